using Engine.Core;
using Engine.Graph;
using Engine.IO;
using Engine.Proto;
using Engine.Text;

namespace Engine.Cli;

/// <summary>
/// `engine forward --model M --weights W --input data=x.npy --output DIR`: run a net on arrays from
/// .npy files and write the requested blobs as .npy (pycaffe's net.forward from the shell);
/// with --backward, also the gradients of one blob with respect to the inputs and every parameter.
/// </summary>
internal static class ForwardCommand
{
    private static readonly Args.Flag[] Flags =
    [
        new("model", "the net prototxt (required), usually a deploy net with Input layers"),
        new("weights", "trained .caffemodel files (comma-separated; optional: without, the fillers' values)"),
        new("input", "NAME=FILE.npy: fill Input blob NAME (float32/float64, C order; its shape reshapes the net); repeat or comma-separate", Repeatable: true),
        new("blobs", "blobs to write (comma-separated; default: the net's outputs)"),
        new("output", "folder for NAME.npy (float32; '/' in names becomes '_') (required)"),
        new("backward", "also back-propagate from --loss and write DIR/grad/INPUT.npy and DIR/grad/LAYER_i.npy", IsBool: true),
        new("loss", "the blob to back-propagate from with --backward: its gradient is 1, every other 0"),
        new("phase", "TRAIN or TEST", Default: "TEST"),
        new("level", "NetState level"),
        new("stage", "NetState stages (comma-separated)"),
        Program.Threads,
        Program.Gpu,
    ];

    public static int Run(string[] argv)
    {
        var args = new Args("forward", Flags, argv);
        if (args.Help)
        {
            Console.WriteLine(Args.Usage("forward",
                "--model M.prototxt [--weights W.caffemodel] --input data=x.npy [--input b=y.npy] [--blobs prob,fc7] --output DIR [--backward --loss BLOB]",
                "Copies each .npy into its Input blob, runs forward once and writes each requested blob to DIR/NAME.npy.\n" +
                "With --backward --loss BLOB, sets BLOB's gradient to 1 and back-propagates through every layer\n" +
                "(force_backward), writing DIR/grad/INPUT.npy per input and DIR/grad/LAYER_i.npy per parameter blob.", Flags));
            return 0;
        }
        Program.ApplyThreads(args);
        using var backend = Program.OpenGpu(args);
        var model = args.Require("model");
        var output = args.Require("output");
        bool backward = args.GetBool("backward");
        var loss = args.Get("loss");
        if (backward && loss == null) throw new EngineException("engine forward: --backward needs --loss BLOB, the blob to back-propagate from");
        if (!backward && loss != null) throw new EngineException("engine forward: --loss is only used with --backward");
        var phase = args.Get("phase")?.ToUpperInvariant() switch
        {
            "TRAIN" => Phase.Train,
            "TEST" => Phase.Test,
            var p => throw new EngineException($"engine forward: --phase must be TRAIN or TEST, got \"{p}\""),
        };

        // Inputs: NAME=FILE pairs, read before the net is built so a missing file fails fast.
        var inputs = new Dictionary<string, (int[] shape, float[] data)>(StringComparer.Ordinal);
        foreach (var spec in args.GetAll("input").SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            int eq = spec.IndexOf('=');
            if (eq <= 0 || eq == spec.Length - 1)
                throw new EngineException($"engine forward: --input expects NAME=FILE.npy, got \"{spec}\"");
            var name = spec[..eq];
            if (inputs.ContainsKey(name)) throw new EngineException($"engine forward: input \"{name}\" is given twice");
            inputs[name] = NpyFile.Read(spec[(eq + 1)..]);
        }

        var param = NetFiles.ReadNet(model);
        if (backward) param.ForceBackward = true;
        var state = new NetState { Phase = phase, Level = args.GetInt("level", 0) };
        var stages = args.Get("stage")?.Split(',', StringSplitOptions.RemoveEmptyEntries);
        if (stages != null) state.Stage.AddRange(stages);
        using var net = new Net(param, state, source: model);
        var weights = args.Get("weights");
        if (weights != null)
            foreach (var w in weights.Split(',', StringSplitOptions.RemoveEmptyEntries)) net.CopyTrainedLayersFrom(w);
        else
            Log.Warning("no --weights: the parameters keep their fillers' values", "forward");

        net.UseBackend(backend);
        Program.LogPlacement(net);

        var blobs = args.Get("blobs")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var missing = net.Inputs.Where(b => !inputs.ContainsKey(b.Name)).Select(b => b.Name).ToList();
        if (missing.Count > 0)
            Log.Warning($"no --input for {string.Join(", ", missing)}: left as set up (zeros)", "forward");

        var results = net.Forward(inputs, blobs);
        foreach (var (name, (shape, data)) in results)
        {
            var path = Path.Combine(output, FileName(name) + ".npy");
            NpyFile.Write(path, shape, data);
            Log.Info($"{name} ({string.Join(" ", shape)}) -> {path}", "forward");
        }
        if (!backward) return 0;

        var grads = net.Backward(loss!);
        var gradDir = Path.Combine(output, "grad");
        foreach (var (name, (shape, data)) in grads.Inputs)
        {
            var path = Path.Combine(gradDir, FileName(name) + ".npy");
            NpyFile.Write(path, shape, data);
            Log.Info($"d {loss} / d {name} -> {path}", "forward");
        }
        foreach (var (layer, list) in grads.Params)
            for (int i = 0; i < list.Count; i++)
            {
                var path = Path.Combine(gradDir, $"{FileName(layer)}_{i}.npy");
                NpyFile.Write(path, list[i].shape, list[i].data);
                Log.Info($"d {loss} / d {layer}[{i}] -> {path}", "forward");
            }
        return 0;
    }

    /// <summary>A blob or layer name as a file name: '/' (and the platform's separators) become '_'.</summary>
    internal static string FileName(string name)
    {
        var s = name.Replace('/', '_').Replace('\\', '_');
        return s is "." or ".." || s.Length == 0 ? "_" + s : s;
    }
}
