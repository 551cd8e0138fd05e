using Engine.Proto;

namespace Engine.Upgrade;

/// <summary>
/// Brings a SolverParameter to the current format: the deprecated <c>solver_type</c> enum
/// becomes the <c>type</c> string (as Caffe's UpgradeSolverAsNeeded does), and nets written
/// inline (net_param, train_net_param, test_net_param) get <see cref="NetUpgrader"/>.
/// </summary>
public static class SolverUpgrader
{
    /// <summary>The deprecated enum's proto names and the type strings of the solvers they meant.</summary>
    private static readonly Dictionary<string, string> TypeByEnumName = new(StringComparer.Ordinal)
    {
        ["SGD"] = "SGD",
        ["NESTEROV"] = "Nesterov",
        ["ADAGRAD"] = "AdaGrad",
        ["RMSPROP"] = "RMSProp",
        ["ADADELTA"] = "AdaDelta",
        ["ADAM"] = "Adam",
    };

    /// <summary>The type string for a deprecated solver_type value, e.g. ADAGRAD → "AdaGrad".</summary>
    public static string TypeString(SolverParameter.Types.SolverType solverType)
    {
        var value = SolverParameter.Descriptor.FindFieldByName("solver_type").EnumType.FindValueByNumber((int)solverType);
        return value != null && TypeByEnumName.TryGetValue(value.Name, out var s)
            ? s
            : throw new EngineException($"unknown solver_type {(int)solverType}");
    }

    /// <summary>
    /// The upgraded solver as a new message (<paramref name="solver"/> is unchanged). Giving both
    /// solver_type and a type that means another solver is an <see cref="EngineException"/>
    /// naming <paramref name="sourceName"/>.
    /// </summary>
    public static SolverParameter Upgrade(SolverParameter solver, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(solver);
        var result = solver.Clone();
        if (result.HasSolverType)
        {
            var enumName = SolverParameter.Descriptor.FindFieldByName("solver_type").EnumType
                .FindValueByNumber((int)result.SolverType)?.Name ?? ((int)result.SolverType).ToString(System.Globalization.CultureInfo.InvariantCulture);
            string type;
            try
            {
                type = TypeString(result.SolverType);
            }
            catch (EngineException e)
            {
                throw new EngineException($"{sourceName}: {e.Message}");
            }
            if (result.HasType && result.Type != type)
            {
                throw new EngineException(
                    $"{sourceName}: solver_type: {enumName} (deprecated) and type: \"{result.Type}\" name different solvers; give only type: \"{type}\" or type: \"{result.Type}\"");
            }
            result.Type = type;
            result.ClearSolverType();
        }

        if (result.NetParam != null && NetUpgrader.NeedsUpgrade(result.NetParam))
            result.NetParam = NetUpgrader.Upgrade(result.NetParam, $"{sourceName} (net_param)");
        if (result.TrainNetParam != null && NetUpgrader.NeedsUpgrade(result.TrainNetParam))
            result.TrainNetParam = NetUpgrader.Upgrade(result.TrainNetParam, $"{sourceName} (train_net_param)");
        for (int i = 0; i < result.TestNetParam.Count; i++)
        {
            if (NetUpgrader.NeedsUpgrade(result.TestNetParam[i]))
                result.TestNetParam[i] = NetUpgrader.Upgrade(result.TestNetParam[i], $"{sourceName} (test_net_param #{i + 1})");
        }
        return result;
    }

    /// <summary>Whether <see cref="Upgrade"/> would change anything.</summary>
    public static bool NeedsUpgrade(SolverParameter solver)
    {
        ArgumentNullException.ThrowIfNull(solver);
        return solver.HasSolverType
            || (solver.NetParam != null && NetUpgrader.NeedsUpgrade(solver.NetParam))
            || (solver.TrainNetParam != null && NetUpgrader.NeedsUpgrade(solver.TrainNetParam))
            || solver.TestNetParam.Any(NetUpgrader.NeedsUpgrade);
    }
}
