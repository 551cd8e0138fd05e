using Engine.Core;
using Engine.Graph;
using Engine.Proto;

namespace Engine.Cli;

/// <summary>`engine test --model M --weights W --iterations N`: the mean of each output, as `caffe test`.</summary>
internal static class TestCommand
{
    private static readonly Args.Flag[] Flags =
    [
        new("model", "the net prototxt (required), built in the TEST phase"),
        new("weights", "the trained .caffemodel (required; comma-separated list allowed)"),
        new("iterations", "number of batches", Default: "50"),
        new("level", "NetState level"),
        new("stage", "NetState stages (comma-separated)"),
        Program.Threads,
        Program.Gpu,
    ];

    public static int Run(string[] argv)
    {
        var args = new Args("test", Flags, argv);
        if (args.Help)
        {
            Console.WriteLine(Args.Usage("test", "--model M.prototxt --weights W.caffemodel [--iterations N]",
                "Runs N forward passes in the TEST phase and prints the mean of every output blob.", Flags));
            return 0;
        }
        Program.ApplyThreads(args);
        using var backend = Program.OpenGpu(args);
        var model = args.Require("model");
        var weights = args.Require("weights");
        int iterations = args.GetInt("iterations", 50);
        if (iterations < 1) throw new EngineException($"engine test: --iterations must be at least 1, got {iterations}");
        var stages = args.Get("stage")?.Split(',', StringSplitOptions.RemoveEmptyEntries);
        using var net = Net.FromFile(model, Phase.Test, args.GetInt("level", 0), stages);
        foreach (var w in weights.Split(',', StringSplitOptions.RemoveEmptyEntries)) net.CopyTrainedLayersFrom(w);
        net.UseBackend(backend);
        Program.LogPlacement(net);
        Log.Info($"Running for {iterations} iterations.", "test");

        var sums = net.Outputs.Select(b => new double[b.Count]).ToArray();
        double loss = 0;
        for (int it = 0; it < iterations; it++)
        {
            loss += net.Forward();
            for (int o = 0; o < net.Outputs.Count; o++)
            {
                var d = net.Outputs[o].ConstData;
                for (int k = 0; k < d.Length; k++)
                {
                    sums[o][k] += d[k];
                    Log.Info($"Batch {it}, {net.Outputs[o].Name} = {Log.Num(d[k])}", "test");
                }
            }
        }
        Log.Info($"Loss: {Log.Num(loss / iterations)}", "test");
        Console.Out.Flush();
        for (int o = 0; o < net.Outputs.Count; o++)
        {
            float w = net.OutputLossWeight(net.Outputs[o]);
            foreach (var s in sums[o])
            {
                double mean = s / iterations;
                var extra = w != 0 ? $" (* {Log.Num(w)} = {Log.Num(w * mean)} loss)" : "";
                Console.WriteLine($"{net.Outputs[o].Name} = {Log.Num(mean)}{extra}");
            }
        }
        return 0;
    }
}
