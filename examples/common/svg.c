/*
 * A small SVG 1.1 line-plot writer for the examples: N named series of
 * (x, y) points become one figure with a frame, light grid, "nice" tick
 * values, axis labels, a title and a legend to the right of the plot, in
 * the spirit of a default matplotlib figure. The file is self-contained:
 * no scripts, no external fonts or style sheets.
 *
 * Text widths cannot be measured without a font engine, so the layout
 * estimates them as 0.6 em per character, which is close for the generic
 * sans-serif faces viewers fall back to.
 */
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
#define LEGEND_FONT 12.0
#define CHAR_EM 0.6
#define PLOT_W 500.0
#define PLOT_H 320.0
#define TICK_LEN 5.0
#define MAX_MARKERS 40 /* draw point markers on series with at most this many points */

/* One axis: its visible range and its ticks first_tick + i * step. */
typedef struct axis {
    double lo, hi;
    double first_tick, step;
    int nticks;
    int decimals;
} axis;

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
    fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"%.0f\" text-anchor=\"%s\"%s>", x,
            y, size, anchor, extra ? extra : "");
    put_escaped(f, text);
    fputs("</text>\n", f);
}

static double text_width(const char *s, double size)
{
    return s ? (double)strlen(s) * CHAR_EM * size : 0.0;
}

int ex_svg_plot(FILE *f, const ex_plot *p)
{
    /* Data ranges over the finite points of every series. */
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
    axis ax, ay;
    axis_fit(&ax, xmin, xmax, p->integer_x, 8);
    axis_fit(&ay, ymin, ymax, 0, 7);

    /* Layout: the left margin fits the widest y tick label. */
    char buf[64];
    double ytick_w = 0.0;
    for (int i = 0; i < ay.nticks; i++) {
        format_tick(buf, sizeof buf, &ay, axis_tick(&ay, i));
        ytick_w = fmax(ytick_w, text_width(buf, TICK_FONT));
    }
    double legend_w = 0.0;
    for (int s = 0; s < p->n_series; s++)
        legend_w = fmax(legend_w, text_width(p->series[s].name, LEGEND_FONT));
    legend_w += 12.0 + 24.0 + 8.0 + 10.0; /* padding, line sample, gap, padding */
    double legend_h = 10.0 + 20.0 * p->n_series;

    double left = 12.0 + LABEL_FONT + 10.0 + ytick_w + TICK_LEN + 4.0;
    double top = 40.0, bottom = 56.0;
    double width = left + PLOT_W + 18.0 + legend_w + 14.0;
    double height = top + fmax(PLOT_H, legend_h) + bottom;
    double x0 = left, x1 = left + PLOT_W, y0 = top, y1 = top + PLOT_H;
#define PX(x) (x0 + ((x)-ax.lo) / (ax.hi - ax.lo) * PLOT_W)
#define PY(y) (y1 - ((y)-ay.lo) / (ay.hi - ay.lo) * PLOT_H)

    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n", f);
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
            "width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
            "font-family=\"" FONT "\">\n",
            width, height, width, height);
    fputs("<title>", f);
    put_escaped(f, p->title);
    fputs("</title>\n", f);
    fprintf(f,
            "<defs><clipPath id=\"plot-area\"><rect x=\"%.2f\" y=\"%.2f\" "
            "width=\"%.2f\" height=\"%.2f\"/></clipPath></defs>\n",
            x0, y0, PLOT_W, PLOT_H);
    fprintf(f,
            "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n",
            width, height);

    /* Grid lines at the ticks. */
    fputs("<g stroke=\"#e6e6e6\" stroke-width=\"1\">\n", f);
    for (int i = 0; i < ax.nticks; i++) {
        double x = PX(axis_tick(&ax, i));
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", x, y0, x,
                y1);
    }
    for (int i = 0; i < ay.nticks; i++) {
        double y = PY(axis_tick(&ay, i));
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", x0, y, x1,
                y);
    }
    fputs("</g>\n", f);

    /* The series: one polyline per run of finite points, plus markers. */
    fputs("<g clip-path=\"url(#plot-area)\" fill=\"none\" stroke-width=\"2\" "
          "stroke-linejoin=\"round\" stroke-linecap=\"round\">\n",
          f);
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
                fprintf(f, "%.2f,%.2f ", PX(se->x[i]), PY(se->y[i]));
        }
        if (open)
            fputs("\"/>\n", f);
        if (se->n <= MAX_MARKERS) {
            for (int i = 0; i < se->n; i++) {
                if (isfinite(se->x[i]) && isfinite(se->y[i]))
                    fprintf(f,
                            "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3\" fill=\"%s\" "
                            "stroke=\"none\"/>\n",
                            PX(se->x[i]), PY(se->y[i]), color);
            }
        }
    }
    fputs("</g>\n", f);

    /* Frame, ticks and tick labels. */
    fprintf(f,
            "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" "
            "stroke=\"#000000\" stroke-width=\"1\"/>\n",
            x0, y0, PLOT_W, PLOT_H);
    fputs("<g stroke=\"#000000\" stroke-width=\"1\">\n", f);
    for (int i = 0; i < ax.nticks; i++) {
        double x = PX(axis_tick(&ax, i));
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", x, y1, x,
                y1 + TICK_LEN);
    }
    for (int i = 0; i < ay.nticks; i++) {
        double y = PY(axis_tick(&ay, i));
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n",
                x0 - TICK_LEN, y, x0, y);
    }
    fputs("</g>\n<g fill=\"#000000\">\n", f);
    for (int i = 0; i < ax.nticks; i++) {
        double v = axis_tick(&ax, i);
        format_tick(buf, sizeof buf, &ax, v);
        put_text(f, PX(v), y1 + TICK_LEN + TICK_FONT + 3.0, TICK_FONT, "middle", NULL,
                 buf);
    }
    for (int i = 0; i < ay.nticks; i++) {
        double v = axis_tick(&ay, i);
        format_tick(buf, sizeof buf, &ay, v);
        put_text(f, x0 - TICK_LEN - 4.0, PY(v), TICK_FONT, "end", " dy=\"0.35em\"", buf);
    }

    /* Axis labels and title. */
    put_text(f, (x0 + x1) / 2.0, y1 + TICK_LEN + TICK_FONT + 8.0 + LABEL_FONT + 4.0,
             LABEL_FONT, "middle", NULL, p->xlabel);
    char rot[96];
    double ylx = 12.0 + LABEL_FONT * 0.8, yly = (y0 + y1) / 2.0;
    snprintf(rot, sizeof rot, " transform=\"rotate(-90 %.2f %.2f)\"", ylx, yly);
    put_text(f, ylx, yly, LABEL_FONT, "middle", rot, p->ylabel);
    put_text(f, (x0 + x1) / 2.0, top - 14.0, TITLE_FONT, "middle",
             " font-weight=\"bold\"", p->title);
    fputs("</g>\n", f);

    /* Legend to the right of the plot. */
    double lx = x1 + 18.0, ly = y0;
    fprintf(f,
            "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#ffffff\" "
            "stroke=\"#cccccc\" stroke-width=\"1\" rx=\"3\"/>\n",
            lx, ly, legend_w, legend_h);
    for (int s = 0; s < p->n_series; s++) {
        const char *color = palette[s % PALETTE_SIZE];
        double cy = ly + 15.0 + 20.0 * s;
        fprintf(f,
                "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" "
                "stroke-width=\"2\"/>\n",
                lx + 12.0, cy, lx + 36.0, cy, color);
        fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3\" fill=\"%s\"/>\n", lx + 24.0,
                cy, color);
        put_text(f, lx + 44.0, cy, LEGEND_FONT, "start", " dy=\"0.35em\"",
                 p->series[s].name);
    }
    fputs("</svg>\n", f);
#undef PX
#undef PY
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
