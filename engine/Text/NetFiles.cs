using Engine.Proto;
namespace Engine.Text;
public static class NetFiles
{
    public static NetParameter ReadNet(string path) => throw new NotImplementedException(path);
    public static SolverParameter ReadSolver(string path) => throw new NotImplementedException(path);
}
