/*
 * A small SVG 1.1 line-plot writer for the examples: N named series of
 * (x, y) points become one figure with a frame, light grid, "nice" tick
 * values, axis labels, a title and a legend to the right of the plot, in
 * the spirit of a default matplotlib figure. ex_svg_grid puts several such
 * panels in a grid under one title with one shared legend. The file is
 * self-contained: no scripts, no external fonts or style sheets.
 *
 * Text widths cannot be measured without a font engine, so the layout
 * estimates them as 0.6 em per character, which is close for the generic
 * sans-serif faces viewers fall back to. Coordinates are written with one
 * decimal: a tenth of a pixel is invisible and keeps the files small.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ex_common.h"

/* matplotlib's "tab10" colour cycle. */
static const char *const palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                      "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                                      "#bcbd22", "#17becf"};
#define PALETTE_SIZE ((int)(sizeof palette / sizeof palette[0]))

#define FONT "DejaVu Sans, Helvetica, Arial, sans-serif"
#define TICK_FONT 11.0
#define LABEL_FONT 13.0
#define TITLE_FONT 15.0
#define FIGURE_TITLE_FONT 17.0
#define LEGEND_FONT 12.0
#define CHAR_EM 0.6
#define PLOT_W 500.0 /* plot area of a single plot */
#define PLOT_H 320.0
#define PANEL_W 400.0 /* plot area of a grid panel */
#define PANEL_H 250.0
#define PANEL_GAP 24.0 /* between a panel's plot area and the next panel */
#define TICK_LEN 5.0
#define MARGIN_TOP 40.0    /* above a plot area: its title */
#define MARGIN_BOTTOM 56.0 /* below: tick labels and the x label */
#define FIGURE_TITLE_H 34.0
#define MAX_MARKERS 40 /* draw point markers on series with at most this many points */

/* One axis: its visible range and its ticks first_tick + i * step. */
typedef struct axis {
    double lo, hi;
    double first_tick, step;
    int nticks;
    int decimals;
} axis;

/* Where a plot area is, in the coordinates of the enclosing group. */
typedef struct area {
    double x0, y0, w, h;
    int id; /* makes the clip path's id unique within the file */
} area;

/*
 * Fit an axis to the data range [dmin, dmax]: pad it by 5% on each side (as
 * matplotlib does), then take the smallest step of the form {1, 2, 5} x 10^k
 * that leaves at most `max_intervals` intervals, so the tick labels are
 * short round numbers.
 */
static void axis_fit(axis *a, double dmin, double dmax, int integer, int max_intervals)
{
    static const double mult[] = {1.0, 2.0, 5.0, 10.0};
    if (!(dmin <= dmax)) { /* no finite data */
        dmin = 0.0;
        dmax = 1.0;
    }
    if (dmax - dmin <= 0.0) {
        double pad = dmin != 0.0 ? fabs(dmin) * 0.05 : 0.5;
        if (integer && pad < 0.5)
            pad = 0.5;
        dmin -= pad;
        dmax += pad;
    }
    double span = dmax - dmin;
    a->lo = dmin - 0.05 * span;
    a->hi = dmax + 0.05 * span;

    double raw = (a->hi - a->lo) / max_intervals;
    double mag = pow(10.0, floor(log10(raw)));
    double step = 10.0 * mag;
    for (size_t i = 0; i < sizeof mult / sizeof mult[0]; i++) {
        if (mult[i] * mag >= raw * (1.0 - 1e-9)) {
            step = mult[i] * mag;
            break;
        }
    }
    if (integer && step < 1.0)
        step = 1.0;
    a->step = step;
    a->first_tick = ceil(a->lo / step - 1e-9) * step;
    a->nticks = (int)floor((a->hi - a->first_tick) / step + 1e-9) + 1;
    if (a->nticks < 0)
        a->nticks = 0;
    int k = (int)floor(log10(step) + 1e-9);
    a->decimals = k < 0 ? -k : 0;
}

static double axis_tick(const axis *a, int i)
{
    double v = a->first_tick + i * a->step;
    return fabs(v) < a->step * 1e-6 ? 0.0 : v; /* no "-0.00" */
}

static int format_tick(char *buf, size_t cap, const axis *a, double v)
{
    if (fabs(v) >= 1e6)
        return snprintf(buf, cap, "%.3g", v);
    return snprintf(buf, cap, "%.*f", a->decimals, v);
}

/* Whether the plot has any finite point to draw. */
static int has_data(const ex_plot *p)
{
    for (int s = 0; s < p->n_series; s++) {
        const ex_series *se = &p->series[s];
        for (int i = 0; i < se->n; i++) {
            if (isfinite(se->x[i]) && isfinite(se->y[i]))
                return 1;
        }
    }
    return 0;
}

/* Fit both axes to the finite points of every series. */
static void fit_axes(const ex_plot *p, axis *ax, axis *ay)
{
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (int s = 0; s < p->n_series; s++) {
        const ex_series *se = &p->series[s];
        for (int i = 0; i < se->n; i++) {
            if (!isfinite(se->x[i]) || !isfinite(se->y[i]))
                continue;
            xmin = fmin(xmin, se->x[i]);
            xmax = fmax(xmax, se->x[i]);
            ymin = fmin(ymin, se->y[i]);
            ymax = fmax(ymax, se->y[i]);
        }
    }
    axis_fit(ax, xmin, xmax, p->integer_x, 8);
    axis_fit(ay, ymin, ymax, 0, 7);
}

/* Write text with the five XML special characters escaped. */
static void put_escaped(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default: fputc(*s, f); break;
        }
    }
}

static void put_text(FILE *f, double x, double y, double size, const char *anchor,
                     const char *extra, const char *text)
{
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.0f\" text-anchor=\"%s\"%s>", x,
            y, size, anchor, extra ? extra : "");
    put_escaped(f, text);
    fputs("</text>\n", f);
}

static double text_width(const char *s, double size)
{
    return s ? (double)strlen(s) * CHAR_EM * size : 0.0;
}

/* Room left of a plot area for the y label, the y tick labels and the ticks. */
static double left_margin(const axis *ay)
{
    char buf[64];
    double ytick_w = 0.0;
    for (int i = 0; i < ay->nticks; i++) {
        format_tick(buf, sizeof buf, ay, axis_tick(ay, i));
        ytick_w = fmax(ytick_w, text_width(buf, TICK_FONT));
    }
    return 12.0 + LABEL_FONT + 10.0 + ytick_w + TICK_LEN + 4.0;
}

static double legend_width(const ex_series *series, int n)
{
    double w = 0.0;
    for (int s = 0; s < n; s++)
        w = fmax(w, text_width(series[s].name, LEGEND_FONT));
    return w + 12.0 + 24.0 + 8.0 + 10.0; /* padding, line sample, gap, padding */
}

static double legend_height(int n)
{
    return 10.0 + 20.0 * n;
}

static void svg_begin(FILE *f, double width, double height, const char *title)
{
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n", f);
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
            "width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
            "font-family=\"" FONT "\">\n",
            width, height, width, height);
    fputs("<title>", f);
    put_escaped(f, title);
    fputs("</title>\n", f);
    fprintf(f,
            "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n",
            width, height);
}

/* Grid lines at the ticks. */
static void draw_grid(FILE *f, const area *a, const axis *ax, const axis *ay)
{
    double x1 = a->x0 + a->w, y1 = a->y0 + a->h;
    fputs("<g stroke=\"#e6e6e6\" stroke-width=\"1\">\n", f);
    for (int i = 0; i < ax->nticks; i++) {
        double x = a->x0 + (axis_tick(ax, i) - ax->lo) / (ax->hi - ax->lo) * a->w;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x, a->y0,
                x, y1);
    }
    for (int i = 0; i < ay->nticks; i++) {
        double y = y1 - (axis_tick(ay, i) - ay->lo) / (ay->hi - ay->lo) * a->h;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", a->x0, y,
                x1, y);
    }
    fputs("</g>\n", f);
}

/* The series: one polyline per run of finite points, plus markers. */
static void draw_series(FILE *f, const ex_plot *p, const area *a, const axis *ax,
                        const axis *ay)
{
#define PX(x) (a->x0 + ((x)-ax->lo) / (ax->hi - ax->lo) * a->w)
#define PY(y) (a->y0 + a->h - ((y)-ay->lo) / (ay->hi - ay->lo) * a->h)
    fprintf(f,
            "<defs><clipPath id=\"plot-area-%d\"><rect x=\"%.1f\" y=\"%.1f\" "
            "width=\"%.1f\" height=\"%.1f\"/></clipPath></defs>\n",
            a->id, a->x0, a->y0, a->w, a->h);
    fprintf(f,
            "<g clip-path=\"url(#plot-area-%d)\" fill=\"none\" stroke-width=\"2\" "
            "stroke-linejoin=\"round\" stroke-linecap=\"round\">\n",
            a->id);
    for (int s = 0; s < p->n_series; s++) {
        const ex_series *se = &p->series[s];
        const char *color = palette[s % PALETTE_SIZE];
        int open = 0;
        for (int i = 0; i < se->n; i++) {
            int ok = isfinite(se->x[i]) && isfinite(se->y[i]);
            if (ok && !open) {
                fprintf(f, "<polyline stroke=\"%s\" points=\"", color);
                open = 1;
            } else if (!ok && open) {
                fputs("\"/>\n", f);
                open = 0;
            }
            if (ok)
                fprintf(f, "%.1f,%.1f ", PX(se->x[i]), PY(se->y[i]));
        }
        if (open)
            fputs("\"/>\n", f);
        if (se->n > MAX_MARKERS)
            continue;
        for (int i = 0; i < se->n; i++) {
            if (isfinite(se->x[i]) && isfinite(se->y[i]))
                fprintf(f,
                        "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\" "
                        "stroke=\"none\"/>\n",
                        PX(se->x[i]), PY(se->y[i]), color);
        }
    }
    fputs("</g>\n", f);
#undef PX
#undef PY
}

/* Frame, ticks, tick labels, axis labels and title. */
static void draw_axes(FILE *f, const ex_plot *p, const area *a, const axis *ax,
                      const axis *ay)
{
    char buf[64];
    double x0 = a->x0, y0 = a->y0, x1 = a->x0 + a->w, y1 = a->y0 + a->h;
    fprintf(f,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
            "stroke=\"#000000\" stroke-width=\"1\"/>\n",
            x0, y0, a->w, a->h);
    fputs("<g stroke=\"#000000\" stroke-width=\"1\">\n", f);
    for (int i = 0; i < ax->nticks; i++) {
        double x = x0 + (axis_tick(ax, i) - ax->lo) / (ax->hi - ax->lo) * a->w;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x, y1, x,
                y1 + TICK_LEN);
    }
    for (int i = 0; i < ay->nticks; i++) {
        double y = y1 - (axis_tick(ay, i) - ay->lo) / (ay->hi - ay->lo) * a->h;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
                x0 - TICK_LEN, y, x0, y);
    }
    fputs("</g>\n<g fill=\"#000000\">\n", f);
    for (int i = 0; i < ax->nticks; i++) {
        double v = axis_tick(ax, i);
        format_tick(buf, sizeof buf, ax, v);
        put_text(f, x0 + (v - ax->lo) / (ax->hi - ax->lo) * a->w,
                 y1 + TICK_LEN + TICK_FONT + 3.0, TICK_FONT, "middle", NULL, buf);
    }
    for (int i = 0; i < ay->nticks; i++) {
        double v = axis_tick(ay, i);
        format_tick(buf, sizeof buf, ay, v);
        put_text(f, x0 - TICK_LEN - 4.0, y1 - (v - ay->lo) / (ay->hi - ay->lo) * a->h,
                 TICK_FONT, "end", " dy=\"0.35em\"", buf);
    }
    if (!has_data(p))
        put_text(f, (x0 + x1) / 2.0, (y0 + y1) / 2.0, LABEL_FONT, "middle",
                 " dy=\"0.35em\" fill=\"#808080\"", "no data");

    put_text(f, (x0 + x1) / 2.0, y1 + TICK_LEN + TICK_FONT + 8.0 + LABEL_FONT + 4.0,
             LABEL_FONT, "middle", NULL, p->xlabel);
    char rot[96];
    double left = left_margin(ay);
    double ylx = x0 - left + 12.0 + LABEL_FONT * 0.8, yly = (y0 + y1) / 2.0;
    snprintf(rot, sizeof rot, " transform=\"rotate(-90 %.1f %.1f)\"", ylx, yly);
    put_text(f, ylx, yly, LABEL_FONT, "middle", rot, p->ylabel);
    put_text(f, (x0 + x1) / 2.0, y0 - 14.0, TITLE_FONT, "middle", " font-weight=\"bold\"",
             p->title);
    fputs("</g>\n", f);
}

/* A plot without its legend: grid, series, frame, ticks and labels. */
static void draw_plot(FILE *f, const ex_plot *p, const area *a, const axis *ax,
                      const axis *ay)
{
    draw_grid(f, a, ax, ay);
    draw_series(f, p, a, ax, ay);
    draw_axes(f, p, a, ax, ay);
}

/* A legend box with its top-left corner at (lx, ly). */
static void draw_legend(FILE *f, const ex_series *series, int n, double lx, double ly)
{
    fprintf(f,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#ffffff\" "
            "stroke=\"#cccccc\" stroke-width=\"1\" rx=\"3\"/>\n",
            lx, ly, legend_width(series, n), legend_height(n));
    for (int s = 0; s < n; s++) {
        const char *color = palette[s % PALETTE_SIZE];
        double cy = ly + 15.0 + 20.0 * s;
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                "stroke-width=\"2\"/>\n",
                lx + 12.0, cy, lx + 36.0, cy, color);
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", lx + 24.0,
                cy, color);
        put_text(f, lx + 44.0, cy, LEGEND_FONT, "start", " dy=\"0.35em\"",
                 series[s].name);
    }
}

int ex_svg_plot(FILE *f, const ex_plot *p)
{
    axis ax, ay;
    fit_axes(p, &ax, &ay);
    double left = left_margin(&ay);
    double legend_w = legend_width(p->series, p->n_series);
    double width = left + PLOT_W + 18.0 + legend_w + 14.0;
    double height = MARGIN_TOP + fmax(PLOT_H, legend_height(p->n_series)) + MARGIN_BOTTOM;
    area a = {left, MARGIN_TOP, PLOT_W, PLOT_H, 0};

    svg_begin(f, width, height, p->title);
    draw_plot(f, p, &a, &ax, &ay);
    draw_legend(f, p->series, p->n_series, left + PLOT_W + 18.0, MARGIN_TOP);
    fputs("</svg>\n", f);
    return ferror(f) ? -1 : 0;
}

int ex_svg_grid(FILE *f, const char *title, const ex_plot *panels, int n, int cols)
{
    if (n < 1 || cols < 1) {
        errno = EINVAL;
        return -1;
    }
    if (cols > n)
        cols = n;
    int rows = (n + cols - 1) / cols;
    /* One left margin for all panels, so the plot areas line up. */
    double left = 0.0;
    for (int i = 0; i < n; i++) {
        axis ax, ay;
        fit_axes(&panels[i], &ax, &ay);
        left = fmax(left, left_margin(&ay));
    }
    double cell_w = left + PANEL_W + PANEL_GAP;
    double cell_h = MARGIN_TOP + PANEL_H + MARGIN_BOTTOM;
    const ex_series *legend = panels[0].series;
    int n_legend = panels[0].n_series;
    double legend_w = n_legend > 0 ? legend_width(legend, n_legend) : 0.0;
    double width = cols * cell_w + legend_w + 14.0;
    double height =
        FIGURE_TITLE_H + fmax(rows * cell_h, MARGIN_TOP + legend_height(n_legend) + 14.0);

    svg_begin(f, width, height, title);
    fputs("<g fill=\"#000000\">\n", f);
    put_text(f, cols * cell_w / 2.0, FIGURE_TITLE_H - 8.0, FIGURE_TITLE_FONT, "middle",
             " font-weight=\"bold\"", title);
    fputs("</g>\n", f);
    for (int i = 0; i < n; i++) {
        axis ax, ay;
        fit_axes(&panels[i], &ax, &ay);
        area a = {left, MARGIN_TOP, PANEL_W, PANEL_H, i};
        fprintf(f, "<g transform=\"translate(%.1f %.1f)\">\n", (i % cols) * cell_w,
                FIGURE_TITLE_H + (i / cols) * cell_h);
        draw_plot(f, &panels[i], &a, &ax, &ay);
        fputs("</g>\n", f);
    }
    if (n_legend > 0)
        draw_legend(f, legend, n_legend, cols * cell_w, FIGURE_TITLE_H + MARGIN_TOP);
    fputs("</svg>\n", f);
    return ferror(f) ? -1 : 0;
}

int ex_svg_write(const char *path, const ex_plot *plot)
{
    ex_afile af;
    if (ex_afile_open(&af, path) != 0)
        return -1;
    if (ex_svg_plot(af.f, plot) != 0) {
        ex_afile_abort(&af);
        return -1;
    }
    return ex_afile_commit(&af);
}

int ex_svg_grid_write(const char *path, const char *title, const ex_plot *panels, int n,
                      int cols)
{
    ex_afile af;
    if (ex_afile_open(&af, path) != 0)
        return -1;
    if (ex_svg_grid(af.f, title, panels, n, cols) != 0) {
        ex_afile_abort(&af);
        return -1;
    }
    return ex_afile_commit(&af);
}
