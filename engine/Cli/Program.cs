using Engine.Core;

namespace Engine.Cli;

/// <summary>The `engine` command: train, test, time (Caffe's CLI, with its flag spellings), forward (pycaffe's net.forward/backward on .npy files), convert and compute-mean (Caffe's dataset tools).</summary>
public static class Program
{
    private static readonly (string name, string help, Func<string[], int> run)[] Commands =
    [
        ("train", "train or fine-tune a net from a solver prototxt", TrainCommand.Run),
        ("test", "score a trained net: the mean of each output over N batches", TestCommand.Run),
        ("time", "time each layer's forward and backward pass", TimeCommand.Run),
        ("forward", "run a net on .npy inputs and write blobs (and gradients) as .npy", ForwardCommand.Run),
        ("convert", "convert IDX files, CIFAR-10 batches or an image list into an LMDB of Datum records", ConvertCommand.Run),
        ("compute-mean", "the mean record of an LMDB, as a .binaryproto mean file", ComputeMeanCommand.Run),
        ("plot", "plot loss, learning rate and test outputs from a training log as SVG", PlotCommand.Run),
        ("draw", "draw a net's layers and blobs as Graphviz DOT or SVG", DrawCommand.Run),
        ("device-query", "show the CPU features, the GEMM kernel and the OpenCL devices", DeviceQueryCommand.Run),
    ];

    public static int Main(string[] argv)
    {
        if (argv.Length == 0 || argv[0] is "-h" or "--help" or "help")
        {
            Console.WriteLine("usage: engine <command> [flags]\n\ncommands:");
            foreach (var c in Commands) Console.WriteLine($"  {c.name,-13} {c.help}");
            Console.WriteLine("\n`engine <command> --help` lists a command's flags.");
            return argv.Length == 0 ? 1 : 0;
        }
        var cmd = Commands.FirstOrDefault(c => c.name == argv[0]);
        if (cmd.run == null)
        {
            Console.Error.WriteLine($"engine: unknown command \"{argv[0]}\"; expected one of {string.Join(", ", Commands.Select(c => c.name))}");
            return 1;
        }
        try
        {
            return cmd.run(argv[1..]);
        }
        catch (EngineException e)
        {
            Console.Out.Flush();
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }

    /// <summary>Flags every command shares.</summary>
    internal static readonly Args.Flag Threads = new("threads", "worker threads for the kernels", Default: null);

    internal static void ApplyThreads(Args args)
    {
        int threads = args.GetInt("threads", Environment.ProcessorCount);
        if (threads < 1) throw new EngineException($"engine {args.Command}: --threads must be at least 1, got {threads}");
        Engine.Cpu.WorkerPool.Threads = threads;
    }

    /// <summary>The `--gpu` flag every computing command takes (Caffe's `-gpu N`, `-gpu all`).</summary>
    internal static readonly Args.Flag Gpu = new("gpu", "run on OpenCL device N of `engine device-query` (all: the first)");

    /// <summary>
    /// Resolves `--gpu` to an OpenCL device (an unknown device is a one-line error); null without the flag.
    /// </summary>
    internal static Engine.OpenCL.DeviceSelection? SelectGpu(Args args)
    {
        var value = args.Get("gpu");
        return value == null ? null : Engine.OpenCL.DeviceSelection.FromFlag(value);
    }

    /// <summary>`--gpu`'s device opened as a backend, or null without the flag.</summary>
    internal static Engine.Backends.OpenCLBackend? OpenGpu(Args args) => SelectGpu(args) is { } s ? OpenBackend(s) : null;

    /// <summary>Opens the selected device (its programs load from the disk cache or compile now) and says so.</summary>
    internal static Engine.Backends.OpenCLBackend OpenBackend(Engine.OpenCL.DeviceSelection selection)
    {
        if (selection.Note != null) Log.Warning(selection.Note, "engine");
        var backend = new Engine.Backends.OpenCLBackend(selection.Device);
        Log.Info($"Using {selection.Describe()}; GEMM: {backend.GemmKernel}", "engine");
        return backend;
    }

    /// <summary>One line on where the layers of <paramref name="net"/> run: how many on the device, and which stay on the host.</summary>
    internal static void LogPlacement(Engine.Graph.Net net)
    {
        if (net.Backend == null) return;
        var (device, host) = net.DevicePlacement();
        var rest = host.Count == 0 ? "" : $"; on the host: {string.Join(", ", host.Select(l => $"{l.Name} ({l.Type})"))}";
        Log.Info($"Net \"{net.Name}\" ({net.Phase}): {device.Count} of {device.Count + host.Count} layers on {net.Backend.Name}{rest}", "engine");
    }
}
