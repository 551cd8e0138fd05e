using Engine.Cli;
using Engine.Core;

namespace Engine.Tests.Support;

/// <summary>Runs the `engine` command in-process, as a user would from a shell, capturing what it prints.</summary>
public static class EngineRunner
{
    public static (int code, string stdout, string stderr) Run(params string[] args)
    {
        var (oldOut, oldErr, oldLog, oldQuiet) = (Console.Out, Console.Error, Log.Writer, Log.Quiet);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        Console.SetOut(stdout);
        Console.SetError(stderr);
        Log.Writer = stdout;
        Log.Quiet = false;
        try
        {
            int code = Program.Main(args);
            return (code, stdout.ToString(), stderr.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
            Log.Writer = oldLog;
            Log.Quiet = oldQuiet;
        }
    }
}
