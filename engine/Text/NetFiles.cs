using Engine.Proto;
using Engine.Upgrade;

namespace Engine.Text;

/// <summary>
/// Net and solver prototxt files as the engine uses them: parsed, then upgraded from Caffe's
/// older formats (V1 <c>layers</c>, <c>input_dim</c>, <c>solver_type</c>, …) as Caffe does on
/// every read.
/// </summary>
public static class NetFiles
{
    /// <summary>A net prototxt, upgraded to the current format.</summary>
    public static NetParameter ReadNet(string path)
    {
        var net = ProtoText.ParseFile<NetParameter>(path);
        return NetUpgrader.NeedsUpgrade(net) ? NetUpgrader.Upgrade(net, path) : net;
    }

    /// <summary>A solver prototxt, upgraded to the current format (inline nets included).</summary>
    public static SolverParameter ReadSolver(string path)
    {
        var solver = ProtoText.ParseFile<SolverParameter>(path);
        return SolverUpgrader.Upgrade(solver, path);
    }
}
