using Engine.Core;
using Engine.Tools;

namespace Engine.Cli;

/// <summary>`engine plot LOG --output curves.svg`: training curves from a training log (ours or Caffe's).</summary>
internal static class PlotCommand
{
    private static readonly Args.Flag[] Flags =
    [
        new("output", "the SVG to write", Default: "curves.svg"),
    ];

    public static int Run(string[] argv)
    {
        string? logPath = null;
        if (argv.Length > 0 && !argv[0].StartsWith('-')) { logPath = argv[0]; argv = argv[1..]; }
        var args = new Args("plot", Flags, argv);
        if (args.Help)
        {
            Console.WriteLine(Args.Usage("plot", "LOG [--output curves.svg]",
                "Plots training loss, learning rate and every test output against iteration from a training log\n" +
                "(`engine train` output, or Caffe's glog output) into an SVG.", Flags));
            return 0;
        }
        if (logPath == null) throw new EngineException("engine plot: give the training log, e.g. `engine plot train.log --output curves.svg`");
        var output = args.Require("output");
        var log = TrainingLog.ReadFile(logPath);
        if (log.IsEmpty) throw new EngineException($"{logPath}: no training iterations found in this log");
        SvgWriter.WriteFileAtomic(output, CurvePlot.Render(log, Path.GetFileName(logPath)));
        Console.WriteLine($"wrote {output}: loss {log.Loss.Points.Count} points, lr {log.LearningRate.Points.Count} points, " +
            $"{log.TestOutputs.Count} test output(s), {log.TrainOutputs.Count} train output(s)");
        return 0;
    }
}
