using System.Diagnostics;
using Engine.Core;
using Engine.Graph;
using Engine.Proto;

namespace Engine.Cli;

/// <summary>`engine time --model M --iterations N`: per-layer forward and backward times, as `caffe time`.</summary>
internal static class TimeCommand
{
    private static readonly Args.Flag[] Flags =
    [
        new("model", "the net prototxt (required)"),
        new("iterations", "number of timed iterations", Default: "50"),
        new("phase", "TRAIN or TEST", Default: "TRAIN"),
        new("level", "NetState level"),
        new("stage", "NetState stages (comma-separated)"),
        Program.Threads,
        Program.Gpu,
    ];

    public static int Run(string[] argv)
    {
        var args = new Args("time", Flags, argv);
        if (args.Help)
        {
            Console.WriteLine(Args.Usage("time", "--model M.prototxt [--iterations N] [--phase TRAIN|TEST]",
                "Times one warm-up pass, then N forward and backward passes, and prints each layer's average.", Flags));
            return 0;
        }
        Program.ApplyThreads(args);
        using var backend = Program.OpenGpu(args);
        var model = args.Require("model");
        int iterations = args.GetInt("iterations", 50);
        if (iterations < 1) throw new EngineException($"engine time: --iterations must be at least 1, got {iterations}");
        var phase = args.Get("phase")?.ToUpperInvariant() switch
        {
            "TRAIN" => Phase.Train,
            "TEST" => Phase.Test,
            var p => throw new EngineException($"engine time: --phase must be TRAIN or TEST, got \"{p}\""),
        };
        var stages = args.Get("stage")?.Split(',', StringSplitOptions.RemoveEmptyEntries);
        using var net = Net.FromFile(model, phase, args.GetInt("level", 0), stages);
        net.UseBackend(backend);
        Program.LogPlacement(net);
        // On a device the layers are enqueued; each is waited for so its time is its own.
        Action sync = backend != null ? backend.Synchronize : static () => { };

        Log.Info("Performing Forward", "time");
        float initial = net.Forward();
        Log.Info($"Initial loss: {Log.Num(initial)}", "time");
        Log.Info("Performing Backward", "time");
        net.Backward();

        int n = net.Layers.Count;
        var fwd = new double[n];
        var bwd = new double[n];
        double fwdTotal = 0, bwdTotal = 0;
        var data = net.Layers.OfType<PrefetchingDataLayer>().ToList();
        var waitBefore = data.Select(d => d.DataWait).ToList();
        var total = Stopwatch.StartNew();
        var sw = new Stopwatch();
        Log.Info("*** Benchmark begins ***", "time");
        Log.Info($"Testing for {iterations} iterations.", "time");
        for (int it = 0; it < iterations; it++)
        {
            var iterTimer = Stopwatch.StartNew();
            for (int i = 0; i < n; i++)
            {
                sw.Restart();
                net.ForwardLayer(i);
                sync();
                fwd[i] += sw.Elapsed.TotalMilliseconds;
            }
            double f = iterTimer.Elapsed.TotalMilliseconds;
            fwdTotal += f;
            iterTimer.Restart();
            net.SeedLossGradients();
            for (int i = n - 1; i >= 0; i--)
            {
                sw.Restart();
                net.BackwardLayer(i);
                sync();
                bwd[i] += sw.Elapsed.TotalMilliseconds;
            }
            double b = iterTimer.Elapsed.TotalMilliseconds;
            bwdTotal += b;
            Log.Info($"Iteration: {it + 1} forward-backward time: {Log.Num(f + b)} ms.", "time");
        }
        Log.Info("Average time per layer: ", "time");
        int width = Math.Max(10, net.Layers.Max(l => l.Name.Length));
        for (int i = 0; i < n; i++)
        {
            var name = net.Layers[i].Name.PadLeft(width);
            Log.Info($"{name}\tforward: {Log.Num(fwd[i] / iterations)} ms.", "time");
            Log.Info($"{name}\tbackward: {Log.Num(bwd[i] / iterations)} ms.", "time");
        }
        // The share of the time each data layer's forward waited for a batch read ahead (all of
        // its reading time with data_param.prefetch: 0).
        double totalMs = total.Elapsed.TotalMilliseconds;
        for (int k = 0; k < data.Count; k++)
        {
            double ms = (data[k].DataWait - waitBefore[k]).TotalMilliseconds;
            Log.Info($"{data[k].Name.PadLeft(width)}\tdata wait: {Log.Num(ms / iterations)} ms ({(100 * ms / totalMs).ToString("F1", System.Globalization.CultureInfo.InvariantCulture)}% of the time; prefetch {data[k].Prefetch}).", "time");
        }
        Log.Info($"Average Forward pass: {Log.Num(fwdTotal / iterations)} ms.", "time");
        Log.Info($"Average Backward pass: {Log.Num(bwdTotal / iterations)} ms.", "time");
        Log.Info($"Average Forward-Backward: {Log.Num(total.Elapsed.TotalMilliseconds / iterations)} ms.", "time");
        Log.Info($"Total Time: {Log.Num(total.Elapsed.TotalMilliseconds)} ms.", "time");
        var (blobs, parameters, workspace) = net.MemoryInUse();
        workspace += Engine.Layers.ConvolutionWorkspace.BytesOnThisThread; // shared by the convolutions
        using var self = System.Diagnostics.Process.GetCurrentProcess();
        Log.Info($"Memory: blobs {Log.Bytes(blobs)} (data and gradients), parameters {Log.Bytes(parameters)} (with gradients), " +
                 $"layer workspaces {Log.Bytes(workspace)}; process peak {Log.Bytes(self.PeakWorkingSet64)}.", "time");
        Log.Info("*** Benchmark ends ***", "time");
        return 0;
    }
}
