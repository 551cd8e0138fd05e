using Engine.Proto;

namespace Engine.Solvers;

/// <summary>
/// Caffe's learning-rate policies. <c>iter</c> counts the updates done so far (before this one).
/// multistep keeps its position in <c>currentStep</c>, which snapshots save.
/// </summary>
public static class LearningRatePolicy
{
    public static readonly string[] Names = ["fixed", "step", "exp", "inv", "multistep", "poly", "sigmoid"];

    public static float Rate(SolverParameter p, int iter, ref int currentStep)
    {
        double baseLr = p.BaseLr;
        switch (p.LrPolicy)
        {
            case "fixed":
                return (float)baseLr;
            case "step":
                RequirePositive(p.Stepsize, "stepsize", "step");
                return (float)(baseLr * Math.Pow(p.Gamma, iter / p.Stepsize));
            case "exp":
                return (float)(baseLr * Math.Pow(p.Gamma, iter));
            case "inv":
                return (float)(baseLr * Math.Pow(1.0 + p.Gamma * iter, -p.Power));
            case "multistep":
                if (currentStep < p.Stepvalue.Count && iter >= p.Stepvalue[currentStep]) currentStep++;
                return (float)(baseLr * Math.Pow(p.Gamma, currentStep));
            case "poly":
                RequirePositive(p.MaxIter, "max_iter", "poly");
                return (float)(baseLr * Math.Pow(1.0 - (double)iter / p.MaxIter, p.Power));
            case "sigmoid":
                return (float)(baseLr / (1.0 + Math.Exp(-p.Gamma * (iter - p.Stepsize))));
            case "":
                throw new EngineException("solver: lr_policy is not set; expected one of " + string.Join(", ", Names));
            default:
                throw new EngineException($"solver: unknown lr_policy \"{p.LrPolicy}\"; expected one of {string.Join(", ", Names)}");
        }
    }

    private static void RequirePositive(int value, string field, string policy)
    {
        if (value <= 0) throw new EngineException($"solver: lr_policy \"{policy}\" needs {field} > 0, got {value}");
    }
}
