using Engine.Proto;
using Engine.Text;

namespace Engine.Solvers;

/// <summary>From a solver `type` to its class; reads and upgrades solver files.</summary>
public static class SolverFactory
{
    private static readonly Dictionary<string, Func<SolverParameter, string, bool, Solver>> Types = new(StringComparer.Ordinal)
    {
        ["SGD"] = (p, path, quiet) => new SgdSolver(p, path, quiet),
        ["Nesterov"] = (p, path, quiet) => new NesterovSolver(p, path, quiet),
        ["AdaGrad"] = (p, path, quiet) => new AdaGradSolver(p, path, quiet),
        ["RMSProp"] = (p, path, quiet) => new RMSPropSolver(p, path, quiet),
        ["AdaDelta"] = (p, path, quiet) => new AdaDeltaSolver(p, path, quiet),
        ["Adam"] = (p, path, quiet) => new AdamSolver(p, path, quiet),
    };

    public static IReadOnlyCollection<string> Known => Types.Keys;

    public static void Register(string type, Func<SolverParameter, string, bool, Solver> create) => Types[type] = create;

    public static Solver Create(SolverParameter param, string solverPath = "", bool quiet = false)
    {
        if (!Types.TryGetValue(param.Type, out var create))
            throw new EngineException($"{(solverPath.Length > 0 ? solverPath : "solver")}: unknown solver type \"{param.Type}\"; known: {string.Join(", ", Types.Keys)}");
        return create(param, solverPath, quiet);
    }

    /// <summary>Read a solver prototxt (upgrading solver_type), ready for <see cref="Create"/>.</summary>
    public static Solver FromFile(string path, bool quiet = false) => Create(NetFiles.ReadSolver(path), path, quiet);
}
