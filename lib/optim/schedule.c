/*
 * Learning-rate schedules: functions of the base rate and a 0-based epoch.
 * The optimizer keeps the base rate; mlp_optimizer_start_epoch writes the
 * scheduled rate into the current one.
 */
#include <math.h>

#include "optim_impl.h"

mlp_status mlp_optimizer_schedule_constant(mlp_optimizer *opt)
{
    MLP_CHECK_ARG(opt, "mlp_optimizer_schedule_constant", "optimizer is NULL");
    opt->sched = MLP__SCHED_CONSTANT;
    return MLP_STATUS_OK;
}

static mlp_status check_gamma(double gamma, const char *fn)
{
    if (!(gamma > 0.0 && gamma <= 1.0))
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: gamma %g is outside (0, 1]", fn,
                          gamma);
    return MLP_STATUS_OK;
}

mlp_status mlp_optimizer_schedule_step(mlp_optimizer *opt, int32_t step_epochs,
                                       double gamma)
{
    static const char fn[] = "mlp_optimizer_schedule_step";
    MLP_CHECK_ARG(opt, fn, "optimizer is NULL");
    if (step_epochs < 1)
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: step_epochs %d is not >= 1", fn,
                          (int)step_epochs);
    MLP_TRY(check_gamma(gamma, fn));
    opt->sched = MLP__SCHED_STEP;
    opt->sched_epochs = step_epochs;
    opt->sched_gamma = gamma;
    return MLP_STATUS_OK;
}

mlp_status mlp_optimizer_schedule_exponential(mlp_optimizer *opt, double gamma)
{
    static const char fn[] = "mlp_optimizer_schedule_exponential";
    MLP_CHECK_ARG(opt, fn, "optimizer is NULL");
    MLP_TRY(check_gamma(gamma, fn));
    opt->sched = MLP__SCHED_EXP;
    opt->sched_gamma = gamma;
    return MLP_STATUS_OK;
}

mlp_status mlp_optimizer_schedule_cosine(mlp_optimizer *opt, int32_t period,
                                         double period_mult, double min_rate)
{
    static const char fn[] = "mlp_optimizer_schedule_cosine";
    MLP_CHECK_ARG(opt, fn, "optimizer is NULL");
    if (period < 1)
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: period %d is not >= 1", fn,
                          (int)period);
    if (!(period_mult >= 1.0 && isfinite(period_mult)))
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: period_mult %g is not >= 1", fn,
                          period_mult);
    /* A rate, so finite as a float as the base rate is (optim.c), though
     * one above the base rate is never used. */
    char v[MLP__FMT_DOUBLE_LEN];
    if (!(min_rate >= 0.0 && isfinite((float)min_rate)))
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: min_rate %s is not >= 0 and finite as a float (at most "
                          "3.40282347e+38)",
                          fn, mlp__fmt_double(min_rate, v));
    opt->sched = MLP__SCHED_COSINE;
    opt->sched_epochs = period;
    opt->sched_mult = period_mult;
    opt->sched_min = min_rate;
    return MLP_STATUS_OK;
}

/* The length of period k of the cosine schedule: round(T mult^k). */
static double cosine_length(double T, double mult, double k)
{
    return floor(T * pow(mult, k) + 0.5);
}

/*
 * The start of the cosine schedule's period that holds `epoch`, and its
 * length in *len. Lengths never fall as k grows, so the walk goes from one
 * length to the next, passing at once the periods that keep a length: k
 * runs on to the first j whose T mult^j reaches len + 1/2, which logarithms
 * give and the lengths themselves confirm (a j short of it only costs
 * another step; one past it would skip a period, and is never kept). That takes a few
 * dozen steps for a mult of 1.5 or 2, and at most about sqrt(2 epoch) (a length one more
 * than the last each time) for a mult however close to 1; one period at a
 * time, a mult of 1 + 2^-52 at epoch 2^31 - 1 took 3.3 s.
 */
static double cosine_start(double T, double mult, int32_t epoch, double *len)
{
    double start = 0.0, k = 0.0, p = T;
    const double step = log(mult);
    while (epoch - start >= p) {
        double j = ceil(log((p + 0.5) / T) / step);
        if (!(j > k)) /* NaN or no later j: the next period */
            j = k + 1;
        for (int a = 0; a < 4 && j > k + 1 && cosine_length(T, mult, j - 1) > p; a++)
            j--;
        if (j > k + 1 && cosine_length(T, mult, j - 1) > p)
            j = k + 1; /* still past a longer period: one period, surely */
        for (int a = 0; a < 4 && cosine_length(T, mult, j) <= p; a++)
            j++;
        /* periods k .. j - 1 last p epochs each */
        if (epoch - start < (j - k) * p) {
            start += floor((epoch - start) / p) * p;
            break;
        }
        start += (j - k) * p;
        k = j;
        p = cosine_length(T, mult, k);
    }
    *len = p;
    return start;
}

static double rate_at(const mlp_optimizer *o, int32_t epoch)
{
    const double base = o->base_lr;
    switch (o->sched) {
    case MLP__SCHED_CONSTANT: break;
    case MLP__SCHED_STEP: return base * pow(o->sched_gamma, epoch / o->sched_epochs);
    case MLP__SCHED_EXP: return base * pow(o->sched_gamma, epoch);
    case MLP__SCHED_COSINE: {
        /* Period k lasts round(T mult^k) epochs; equal periods have a
         * closed form. */
        double start, period = o->sched_epochs;
        if (o->sched_mult == 1.0)
            start = floor(epoch / period) * period;
        else
            start = cosine_start(period, o->sched_mult, epoch, &period);
        double lo = o->sched_min < base ? o->sched_min : base;
        return lo + (base - lo) * 0.5 *
                        (1.0 + cos(3.14159265358979323846 * (epoch - start) / period));
    }
    }
    return base;
}

/* The checks both entry points share; `fn` names the caller's entry point
 * in the message. */
static mlp_status check_epoch(const mlp_optimizer *opt, int32_t epoch, const char *fn)
{
    MLP_CHECK_ARG(opt, fn, "optimizer is NULL");
    if (epoch < 0)
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: epoch %d is negative (epochs count "
                          "from 0)",
                          fn, (int)epoch);
    return MLP_STATUS_OK;
}

mlp_status mlp_optimizer_scheduled_rate(const mlp_optimizer *opt, int32_t epoch,
                                        double *rate)
{
    static const char fn[] = "mlp_optimizer_scheduled_rate";
    MLP_TRY(check_epoch(opt, epoch, fn));
    MLP_CHECK_ARG(rate, fn, "rate is NULL");
    *rate = rate_at(opt, epoch);
    return MLP_STATUS_OK;
}

mlp_status mlp_optimizer_start_epoch(mlp_optimizer *opt, int32_t epoch)
{
    MLP_TRY(check_epoch(opt, epoch, "mlp_optimizer_start_epoch"));
    opt->lr = rate_at(opt, epoch);
    return MLP_STATUS_OK;
}
