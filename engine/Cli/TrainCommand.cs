using System.Runtime.InteropServices;
using Engine.Core;
using Engine.OpenCL;
using Engine.Proto;
using Engine.Solvers;
using Engine.Text;

namespace Engine.Cli;

/// <summary>`engine train --solver S [--weights W | --snapshot X]`, as `caffe train`.</summary>
internal static class TrainCommand
{
    private static readonly Args.Flag[] Flags =
    [
        new("solver", "the solver prototxt (required)"),
        new("weights", "fine-tune: copy weights by layer name from these .caffemodel files (comma-separated)"),
        new("snapshot", "resume from a .solverstate (or its .caffemodel; the partner is found)"),
        new("level", "NetState level of the training net", Default: null),
        new("stage", "NetState stages of the training net (comma-separated)"),
        new("sigint-effect", "what Ctrl-C does: snapshot, stop or none", Default: "stop"),
        new("sighup-effect", "what SIGHUP does: snapshot, stop or none", Default: "snapshot"),
        Program.Threads,
        Program.Gpu,
    ];

    public static int Run(string[] argv)
    {
        var args = new Args("train", Flags, argv);
        if (args.Help)
        {
            Console.WriteLine(Args.Usage("train", "--solver S.prototxt [--weights W.caffemodel | --snapshot X.solverstate]",
                "Trains the net of a solver file, printing Caffe's log lines; snapshots go to PREFIX_iter_N.caffemodel/.solverstate.", Flags));
            return 0;
        }
        Program.ApplyThreads(args);
        var gpu = Program.SelectGpu(args);
        var solverPath = args.Require("solver");
        var weights = args.Get("weights");
        var snapshot = args.Get("snapshot");
        if (weights != null && snapshot != null)
            throw new EngineException("engine train: give --weights (fine-tune) or --snapshot (resume), not both");
        var sigint = ParseEffect(args, "sigint-effect");
        var sighup = ParseEffect(args, "sighup-effect");

        var param = NetFiles.ReadSolver(solverPath);
        // Caffe: --gpu overrides the solver's device; without it, an explicit solver_mode: GPU
        // asks for device_id. A solver's device that does not exist is a warning, not an error.
        if (gpu == null)
        {
            var fromSolver = DeviceSelection.FromSolver(param, out var problem);
            if (fromSolver != null) gpu = fromSolver;
            else if (problem != null) Log.Warning($"{problem}; training on the CPU", "train");
        }
        // Said above; the solver need not say it again.
        param.SolverMode = SolverParameter.Types.SolverMode.Cpu;
        if (args.Get("level") != null || args.Get("stage") != null)
        {
            param.TrainState ??= new NetState();
            param.TrainState.Level = args.GetInt("level", 0);
            var stages = args.Get("stage");
            if (stages != null) param.TrainState.Stage.AddRange(stages.Split(',', StringSplitOptions.RemoveEmptyEntries));
        }
        using var backend = gpu != null ? Program.OpenBackend(gpu) : null;
        using var solver = SolverFactory.Create(param, solverPath);
        if (backend != null)
        {
            solver.UseBackend(backend);
            Program.LogPlacement(solver.TrainNet);
        }

        var weightFiles = weights != null ? weights.Split(',', StringSplitOptions.RemoveEmptyEntries) : param.Weights.ToArray();
        if (snapshot == null)
            foreach (var w in weightFiles)
            {
                Log.Info($"Fine-tuning from {w}", "train");
                solver.TrainNet.CopyTrainedLayersFrom(w);
            }

        Console.CancelKeyPress += (_, e) =>
        {
            if (sigint == SignalEffect.None) return;
            e.Cancel = true;
            Log.Info($"Ctrl-C: will {(sigint == SignalEffect.Stop ? "stop" : "snapshot")} after this iteration", "train");
            solver.Request(sigint);
        };
        using var hup = OperatingSystem.IsWindows() ? null : PosixSignalRegistration.Create(PosixSignal.SIGHUP, ctx =>
        {
            ctx.Cancel = true;
            solver.Request(sighup);
        });

        solver.Solve(snapshot);
        return 0;
    }

    private static SignalEffect ParseEffect(Args args, string flag) => args.Get(flag) switch
    {
        "snapshot" => SignalEffect.Snapshot,
        "stop" => SignalEffect.Stop,
        "none" => SignalEffect.None,
        var v => throw new EngineException($"engine train: --{flag} must be snapshot, stop or none, got \"{v}\""),
    };
}
