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
    if (!(min_rate >= 0.0 && isfinite(min_rate)))
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: min_rate %g is not >= 0", fn,
                          min_rate);
    opt->sched = MLP__SCHED_COSINE;
    opt->sched_epochs = period;
    opt->sched_mult = period_mult;
    opt->sched_min = min_rate;
    return MLP_STATUS_OK;
}

static double rate_at(const mlp_optimizer *o, int32_t epoch)
{
    const double base = o->base_lr;
    switch (o->sched) {
    case MLP__SCHED_CONSTANT: break;
    case MLP__SCHED_STEP: return base * pow(o->sched_gamma, epoch / o->sched_epochs);
    case MLP__SCHED_EXP: return base * pow(o->sched_gamma, epoch);
    case MLP__SCHED_COSINE: {
        /* Period k lasts round(T mult^k) epochs. Equal periods have a closed
         * form; growing ones are walked (a few dozen steps for any sane mult). */
        double start, period = o->sched_epochs;
        if (o->sched_mult == 1.0) {
            start = floor(epoch / period) * period;
        } else {
            double exact = period;
            start = 0.0;
            while (epoch >= start + period) {
                start += period;
                exact *= o->sched_mult;
                period = floor(exact + 0.5);
            }
        }
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
