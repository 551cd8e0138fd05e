using System.Diagnostics;
using Engine.Core;
using Engine.Graph;
using Engine.IO;
using Engine.Proto;
using Engine.Text;

namespace Engine.Solvers;

/// <summary>What to do when a signal arrives during training (Caffe's -sigint_effect / -sighup_effect).</summary>
public enum SignalEffect { None, Stop, Snapshot }

/// <summary>
/// The training loop, as Caffe's Solver::Step runs it: zero the gradients, test when due,
/// forward/backward iter_size times, display, update, snapshot. A subclass defines one update
/// rule (<see cref="ComputeUpdateValue"/>) and the history it keeps. Dispose disposes the nets
/// (stopping their data layers' prefetch threads).
/// </summary>
public abstract class Solver : IDisposable
{
    private readonly List<float> _losses = [];
    private readonly string _solverPath;
    private volatile SignalEffect _requested = SignalEffect.None;
    private int _currentStep;
    private float _lastRate; // the learning rate of the last update, for the progress line

    protected Solver(SolverParameter param, string solverPath = "", bool quiet = false)
    {
        Param = param;
        _solverPath = solverPath;
        Quiet = quiet;
        Seed = param.RandomSeed >= 0 ? (ulong)param.RandomSeed : (ulong)DateTime.UtcNow.Ticks;
        CheckParameters();
        if (param.SolverMode == SolverParameter.Types.SolverMode.Gpu && !quiet)
            Log.Warning("solver_mode is GPU, but this build has no GPU backend yet; training on the CPU", "solver.cs");
        if (param.IterSize < 1) throw new EngineException($"solver: iter_size must be at least 1, got {param.IterSize}");
        TrainNet = BuildTrainNet();
        TestNets = BuildTestNets();
        // The test nets were built on the training net's weights; this checks that every layer's
        // weights match by name, count and shape, as Caffe's ShareTrainedLayersWith does.
        foreach (var t in TestNets) t.ShareTrainedLayersWith(TrainNet);
        _netDebugInfo = TrainNet.DebugInfo;
        // Caffe's layout: all of the first history kind (one per param), then all of the second.
        int kinds = HistoryBlobsPerParam;
        for (int k = 0; k < kinds; k++)
        {
            foreach (var p in TrainNet.LearnableParams)
            {
                var h = new Blob(k == 0 ? $"history:{p.Blob.Name}" : $"history{k}:{p.Blob.Name}");
                h.ReshapeLike(p.Blob);
                History.Add(h);
            }
        }
    }

    private readonly bool _netDebugInfo;

    /// <summary>
    /// History blobs kept per learnable parameter: 1 (SGD, Nesterov, AdaGrad, RMSProp) or 2
    /// (AdaDelta, Adam). <see cref="History"/> holds all of the first kind, then all of the second,
    /// as Caffe's .solverstate does; parameter i's k-th blob is <c>History[k·N + i]</c>.
    /// </summary>
    protected virtual int HistoryBlobsPerParam => 1;

    /// <summary>Reject solver settings the update rule cannot use (called before the nets are built).</summary>
    protected virtual void CheckParameters() { }

    /// <summary>The solver file's path for messages, or "solver" when built in code.</summary>
    protected string SourceName => _solverPath.Length > 0 ? _solverPath : "solver";

    private readonly Dictionary<(int, int), float[]> _scratch = [];

    /// <summary>A work buffer the size of parameter <paramref name="index"/> (Caffe's update_/temp_); not saved.</summary>
    protected Span<float> Scratch(int index, int slot = 0)
    {
        int count = TrainNet.LearnableParams[index].Blob.Data.Length;
        if (!_scratch.TryGetValue((index, slot), out var buffer) || buffer.Length != count)
            _scratch[(index, slot)] = buffer = new float[count];
        return buffer;
    }

    /// <summary>Parameter <paramref name="index"/>'s history blob of kind <paramref name="kind"/>.</summary>
    protected Blob HistoryOf(int index, int kind = 0) => History[kind * TrainNet.LearnableParams.Count + index];

    public SolverParameter Param { get; }
    public Net TrainNet { get; }

    /// <summary>Run the train and test nets on <paramref name="backend"/> (null: the CPU).</summary>
    public void UseBackend(Engine.Backends.IBackend? backend)
    {
        TrainNet.UseBackend(backend);
        foreach (var t in TestNets) t.UseBackend(backend);
    }
    public IReadOnlyList<Net> TestNets { get; }
    public int Iter { get; protected set; }
    public ulong Seed { get; }
    public bool Quiet { get; }

    /// <summary>One history blob per learnable parameter (momentum and the like), saved in snapshots.</summary>
    protected List<Blob> History { get; } = [];

    /// <summary>The history blobs, for tests and tools.</summary>
    internal IReadOnlyList<Blob> HistoryBlobs => History;

    /// <summary>The solver's name as `type` spells it.</summary>
    public abstract string TypeName { get; }

    /// <summary>Turn the (regularised) gradient of parameter <paramref name="index"/> into the step to subtract.</summary>
    protected abstract void ComputeUpdateValue(int index, float rate);

    /// <summary><see cref="ComputeUpdateValue"/> on the train net's device, with the backend's fused update.</summary>
    protected abstract void ComputeUpdateValueOn(Engine.Backends.IBackend backend, int index, float rate);

    /// <summary>Where snapshots go: PREFIX_iter_N.caffemodel / .solverstate.</summary>
    public string SnapshotPrefix
    {
        get
        {
            var prefix = Param.SnapshotPrefix;
            if (string.IsNullOrEmpty(prefix))
                return Path.Combine(Path.GetDirectoryName(_solverPath) ?? "", Path.GetFileNameWithoutExtension(_solverPath));
            if (prefix.EndsWith('/') || Directory.Exists(prefix))
                return Path.Combine(prefix, Path.GetFileNameWithoutExtension(_solverPath));
            return prefix;
        }
    }

    /// <summary>Ask the loop to stop or snapshot after the current iteration (signal handlers call this).</summary>
    public void Request(SignalEffect effect)
    {
        if (effect != SignalEffect.None) _requested = effect;
    }

    /// <summary>The current learning rate, by the solver's lr_policy.</summary>
    public float LearningRate() => LearningRatePolicy.Rate(Param, Iter, ref _currentStep);

    /// <summary>Train to max_iter, optionally resuming from a snapshot; snapshot and test at the end as Caffe does.</summary>
    public void Solve(string? resumeFrom = null)
    {
        if (resumeFrom != null) Restore(resumeFrom);
        Info($"Solving {TrainNet.Name}");
        Info($"Learning Rate Policy: {Param.LrPolicy}");
        bool stoppedEarly = Step(Param.MaxIter - Iter);
        if (Param.SnapshotAfterTrain && (Param.Snapshot == 0 || Iter % Param.Snapshot != 0)) Snapshot();
        if (stoppedEarly)
        {
            Info("Optimization stopped early.");
            return;
        }
        if (Param.Display > 0 && Iter % Param.Display == 0)
        {
            float loss = TrainNet.Forward();
            Info($"Iteration {Iter}, loss = {Log.Num(loss)}");
        }
        if (Param.TestInterval > 0 && Iter % Param.TestInterval == 0) TestAll();
        Info("Optimization Done.");
    }

    /// <summary>Run <paramref name="iters"/> iterations; returns true when a stop was requested.</summary>
    public bool Step(int iters)
    {
        int start = Iter, stop = Iter + iters;
        int averageLoss = Math.Max(1, Param.AverageLoss);
        var timer = Stopwatch.StartNew();
        var waitMark = TrainNet.DataWait;
        int timedIters = 0;
        using var progress = Quiet ? new ProgressLine(Iter, null) : ProgressLine.ForConsole(Iter);
        while (Iter < stop)
        {
            TrainNet.ClearParamDiffs();
            if (Param.TestInterval > 0 && Iter % Param.TestInterval == 0 && (Iter > 0 || Param.TestInitialization))
            {
                progress.Clear();
                TestAll();
                timer.Restart();
                waitMark = TrainNet.DataWait;
                timedIters = 0;
            }

            bool display = Param.Display > 0 && Iter % Param.Display == 0;
            TrainNet.DebugInfo = display && (Param.DebugInfo || _netDebugInfo);
            float loss = 0;
            for (int i = 0; i < Param.IterSize; i++) loss += TrainNet.ForwardBackward();
            loss /= Param.IterSize;
            if (!float.IsFinite(loss) || !ParamDiffsFinite()) Diverged(loss);
            float smoothed = Smooth(loss, averageLoss);
            timedIters++;

            if (display)
            {
                progress.Clear();
                double secs = timer.Elapsed.TotalSeconds;
                double rate = timedIters / Math.Max(secs, 1e-9);
                Info($"Iteration {Iter} ({Log.Num(rate)} iter/s, {secs:F3}s/{timedIters} iters), loss = {Log.Num(smoothed)}");
                PrintOutputs(TrainNet, "Train", TrainNet.Outputs.Select(b => b.ConstData.ToArray()).ToList());
                var wait = TrainNet.DataWait;
                if (HasDataLayer(TrainNet)) Info(DataWaitLine(Iter, (wait - waitMark).TotalSeconds, secs));
                timer.Restart();
                waitMark = wait;
                timedIters = 0;
            }
            ApplyUpdate();
            Iter++;

            var requested = _requested;
            _requested = SignalEffect.None;
            if ((Param.Snapshot > 0 && Iter % Param.Snapshot == 0) || requested == SignalEffect.Snapshot) { progress.Clear(); Snapshot(); }
            progress.Update(Iter, Math.Max(stop, Param.MaxIter), smoothed, _lastRate);
            if (requested == SignalEffect.Stop) return true;
        }
        return false;
    }

    /// <summary>
    /// The loss or a gradient went NaN or infinite: keep the weights of the last finite iteration
    /// (this iteration's update is not applied), snapshot them, and stop with the first layer
    /// whose values went non-finite.
    /// </summary>
    private void Diverged(float loss)
    {
        var culprit = NetDebugInfo.FirstNonFinite(TrainNet);
        var (model, state) = Snapshot();
        var where = culprit != null ? $"the first non-finite values are in {culprit}" : "every layer output and gradient is finite, so the loss sum overflowed";
        var what = float.IsFinite(loss) ? $"the gradients are not finite (loss = {Log.Num(loss)})" : $"the loss is {loss.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
        throw new EngineException(
            $"{SourceName}: training diverged at iteration {Iter}: {what}; {where}. " +
            $"Try a lower base_lr (now {Log.Num(Param.BaseLr)}), or clip_gradients. " +
            $"The last good state (iteration {Iter}, before this update) was snapshotted to {model} and {state}.");
    }

    /// <summary>True when every step is finite and cannot overflow the weights it is subtracted from.</summary>
    private bool StepsFinite()
    {
        var ps = TrainNet.LearnableParams;
        for (int i = 0; i < ps.Count; i++) // indexed: a foreach over the interface would allocate every iteration
        {
            if (ps[i].LrMult == 0 || ps[i].Blob.Count == 0) continue;
            if (!StepFinite(ps[i])) return false;
        }
        return true;
    }

    /// <summary>|w| + |step| is finite everywhere, so w − step is.</summary>
    private static bool StepFinite(Net.LearnableParam p) =>
        float.IsFinite(MathF.Abs(System.Numerics.Tensors.TensorPrimitives.MaxMagnitude<float>(p.Blob.Diff)) + MathF.Abs(System.Numerics.Tensors.TensorPrimitives.MaxMagnitude<float>(p.Blob.Data)));

    /// <summary>
    /// The gradients were finite but the steps overflowed (a huge rate): the weights are still
    /// those of the last good iteration, but the solver's history already took the update, so
    /// only the weights are written.
    /// </summary>
    private void DivergedInUpdate(float rate)
    {
        var model = $"{SnapshotPrefix}_iter_{Iter}.caffemodel";
        string? layer = null;
        foreach (var p in TrainNet.LearnableParams)
            if (p.LrMult != 0 && p.Blob.Count > 0 && !StepFinite(p))
            {
                layer = $"layer \"{p.Layer.Name}\" ({p.Layer.Type}), param blob {p.Index}";
                break;
            }
        Info($"Snapshotting to binary proto file {model}");
        WeightsFile.WriteAtomic(model, TrainNet.ToProto(Param.SnapshotDiff));
        throw new EngineException(
            $"{SourceName}: training diverged at iteration {Iter}: the update of {layer} is not finite (learning rate {Log.Num(rate)}). " +
            $"Try a lower base_lr (now {Log.Num(Param.BaseLr)}), or clip_gradients. " +
            $"The weights of the last good state (iteration {Iter}, before this update) were written to {model}; " +
            "no .solverstate was written, as the solver's history had already taken the overflowing update: restart from the weights (--weights).");
    }

    /// <summary>Apply one update from the gradients already in the params' diffs and count the iteration (for tests).</summary>
    internal void UpdateFromCurrentDiffs()
    {
        ApplyUpdate();
        Iter++;
    }

    private static bool HasDataLayer(Net net) => net.Layers.Any(l => l is PrefetchingDataLayer);

    /// <summary>
    /// The display's data-wait line: the time the training net's data layers kept the loop waiting
    /// for a batch, as a share of the interval since the last display (or test). Worded so that
    /// Caffe's log parsers, which look for "loss = ", "lr = " and "net output #", skip it.
    /// </summary>
    public static string DataWaitLine(int iter, double waitSeconds, double intervalSeconds)
    {
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        double pct = intervalSeconds > 0 ? 100 * waitSeconds / intervalSeconds : 0;
        return $"Iteration {iter}, data wait {pct.ToString("F1", inv)}% of {intervalSeconds.ToString("F2", inv)} s " +
               $"({(1000 * waitSeconds).ToString("F1", inv)} ms)";
    }

    /// <summary>Dispose the training and test nets.</summary>
    public void Dispose()
    {
        TrainNet.Dispose();
        foreach (var t in TestNets) t.Dispose();
        GC.SuppressFinalize(this);
    }

    private float Smooth(float loss, int averageLoss)
    {
        if (_losses.Count < averageLoss) _losses.Add(loss);
        else _losses[(Iter) % averageLoss] = loss;
        double sum = 0;
        foreach (var l in _losses) sum += l;
        return (float)(sum / _losses.Count);
    }

    private void ApplyUpdate()
    {
        float rate = _lastRate = LearningRate();
        if (Param.Display > 0 && Iter % Param.Display == 0) Info($"Iteration {Iter}, lr = {Log.Num(rate)}");
        if (TrainNet.Backend is { } backend)
        {
            ApplyUpdateOn(backend, rate);
            return;
        }
        ClipGradients();
        var ps = TrainNet.LearnableParams;
        for (int i = 0; i < ps.Count; i++)
        {
            if (ps[i].LrMult == 0) continue;
            if (Param.IterSize > 1) System.Numerics.Tensors.TensorPrimitives.Multiply(ps[i].Blob.Diff, 1f / Param.IterSize, ps[i].Blob.Diff);
            Regularize(i);
            ComputeUpdateValue(i, rate);
        }
        if (TrainNet.DebugInfo) NetDebugInfo.Update(TrainNet);
        if (!StepsFinite()) DivergedInUpdate(rate);
        for (int i = 0; i < ps.Count; i++)
            if (ps[i].LrMult != 0) System.Numerics.Tensors.TensorPrimitives.Subtract(ps[i].Blob.Data, ps[i].Blob.Diff, ps[i].Blob.Data);
    }

    /// <summary>
    /// <see cref="ApplyUpdate"/> on the train net's device: the same steps (clipping, iter_size,
    /// decay, the rule, w −= step) with the backend's primitives, so weights, gradients and history
    /// stay on the device; only the norms used by clipping and the finiteness checks come back.
    /// </summary>
    private void ApplyUpdateOn(Engine.Backends.IBackend backend, float rate)
    {
        var ps = TrainNet.LearnableParams;
        if (Param.ClipGradients >= 0)
        {
            double sumsq = 0;
            for (int i = 0; i < ps.Count; i++)
                if (ps[i].LrMult != 0) sumsq += backend.Dot(ps[i].Blob.DiffOn(backend), ps[i].Blob.DiffOn(backend));
            double norm = Math.Sqrt(sumsq);
            if (norm > Param.ClipGradients)
            {
                float scale = (float)(Param.ClipGradients / norm);
                Info($"Gradient clipping: scaling down gradients (L2 norm {Log.Num(norm)} > {Log.Num(Param.ClipGradients)}) by scale factor {Log.Num(scale)}");
                for (int i = 0; i < ps.Count; i++)
                    if (ps[i].LrMult != 0) backend.Scale(scale, ps[i].Blob.DiffOn(backend), ps[i].Blob.MutableDiffOn(backend));
            }
        }
        for (int i = 0; i < ps.Count; i++)
        {
            if (ps[i].LrMult == 0) continue;
            var blob = ps[i].Blob;
            if (Param.IterSize > 1) backend.Scale(1f / Param.IterSize, blob.DiffOn(backend), blob.MutableDiffOn(backend));
            float decay = Param.WeightDecay * ps[i].DecayMult;
            if (decay != 0)
            {
                switch (Param.RegularizationType)
                {
                    case "L2": backend.Axpy(decay, blob.DataOn(backend), blob.MutableDiffOn(backend)); break;
                    case "L1": backend.L1Decay(decay, blob.DataOn(backend), blob.MutableDiffOn(backend)); break;
                    default: throw new EngineException($"solver: unknown regularization_type \"{Param.RegularizationType}\"; expected L2 or L1");
                }
            }
            ComputeUpdateValueOn(backend, i, rate);
        }
        if (TrainNet.DebugInfo) NetDebugInfo.Update(TrainNet);
        for (int i = 0; i < ps.Count; i++)
            if (ps[i].LrMult != 0 && ps[i].Blob.Count > 0 && !float.IsFinite((float)backend.Dot(ps[i].Blob.DiffOn(backend), ps[i].Blob.DiffOn(backend))))
                DivergedInUpdate(rate);
        for (int i = 0; i < ps.Count; i++)
            if (ps[i].LrMult != 0) backend.Axpy(-1f, ps[i].Blob.DiffOn(backend), ps[i].Blob.MutableDataOn(backend));
    }

    /// <summary>Every learnable gradient is finite (on a device: its sum of squares, computed there).</summary>
    private bool ParamDiffsFinite()
    {
        if (TrainNet.Backend is not { } backend) return NetDebugInfo.ParamDiffsFinite(TrainNet);
        var ps = TrainNet.LearnableParams;
        for (int i = 0; i < ps.Count; i++)
            if (ps[i].Blob.Count > 0 && !double.IsFinite(backend.Dot(ps[i].Blob.DiffOn(backend), ps[i].Blob.DiffOn(backend)))) return false;
        return true;
    }

    private void ClipGradients()
    {
        if (Param.ClipGradients < 0) return;
        double sumsq = 0;
        foreach (var p in TrainNet.LearnableParams)
            if (p.LrMult != 0) sumsq += System.Numerics.Tensors.TensorPrimitives.Dot<float>(p.Blob.Diff, p.Blob.Diff);
        double norm = Math.Sqrt(sumsq);
        if (norm <= Param.ClipGradients) return;
        float scale = (float)(Param.ClipGradients / norm);
        Info($"Gradient clipping: scaling down gradients (L2 norm {Log.Num(norm)} > {Log.Num(Param.ClipGradients)}) by scale factor {Log.Num(scale)}");
        foreach (var p in TrainNet.LearnableParams)
            if (p.LrMult != 0) System.Numerics.Tensors.TensorPrimitives.Multiply(p.Blob.Diff, scale, p.Blob.Diff);
    }

    private void Regularize(int index)
    {
        var p = TrainNet.LearnableParams[index];
        float decay = Param.WeightDecay * p.DecayMult;
        if (decay == 0) return;
        var data = p.Blob.Data;
        var diff = p.Blob.Diff;
        switch (Param.RegularizationType)
        {
            case "L2":
                System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(data, decay, diff, diff);
                break;
            case "L1":
                for (int i = 0; i < data.Length; i++) diff[i] += decay * MathF.Sign(data[i]);
                break;
            default:
                throw new EngineException($"solver: unknown regularization_type \"{Param.RegularizationType}\"; expected L2 or L1");
        }
    }

    /// <summary>Run every test net for its test_iter batches and print the mean of each output.</summary>
    public void TestAll()
    {
        for (int i = 0; i < TestNets.Count; i++) Test(i);
    }

    public IReadOnlyList<(string name, float value)> Test(int index)
    {
        var net = TestNets[index];
        int iters = index < Param.TestIter.Count ? Param.TestIter[index] : throw new EngineException($"solver: no test_iter given for test net #{index}");
        Info($"Iteration {Iter}, Testing net (#{index})");
        List<double[]>? sums = null;
        double loss = 0;
        for (int it = 0; it < iters; it++)
        {
            loss += net.Forward();
            sums ??= net.Outputs.Select(b => new double[b.Count]).ToList();
            for (int o = 0; o < net.Outputs.Count; o++)
            {
                var d = net.Outputs[o].Data;
                for (int k = 0; k < d.Length; k++) sums[o][k] += d[k];
            }
        }
        if (Param.TestComputeLoss) Info($"Test loss: {Log.Num(loss / iters)}");
        var means = (sums ?? []).Select(s => s.Select(v => (float)(v / iters)).ToArray()).ToList();
        PrintOutputs(net, "Test", means);
        var result = new List<(string, float)>();
        for (int o = 0; o < net.Outputs.Count; o++)
            foreach (var v in means[o]) result.Add((net.Outputs[o].Name, v));
        return result;
    }

    private void PrintOutputs(Net net, string which, List<float[]> values)
    {
        int k = 0;
        for (int o = 0; o < net.Outputs.Count; o++)
        {
            float w = net.OutputLossWeight(net.Outputs[o]);
            foreach (var v in values[o])
            {
                var extra = w != 0 ? $" (* {Log.Num(w)} = {Log.Num(w * v)} loss)" : "";
                Info($"    {which} net output #{k++}: {net.Outputs[o].Name} = {Log.Num(v)}{extra}");
            }
        }
    }

    // ------------------------------------------------------------------ snapshots

    /// <summary>Write PREFIX_iter_N.caffemodel and PREFIX_iter_N.solverstate, each atomically.</summary>
    public (string model, string state) Snapshot()
    {
        if (Param.SnapshotFormat == SolverParameter.Types.SnapshotFormat.Hdf5)
            throw new EngineException("solver: snapshot_format HDF5 is not supported; use BINARYPROTO");
        var prefix = SnapshotPrefix;
        var model = $"{prefix}_iter_{Iter}.caffemodel";
        var state = $"{prefix}_iter_{Iter}.solverstate";
        Info($"Snapshotting to binary proto file {model}");
        WeightsFile.WriteAtomic(model, TrainNet.ToProto(Param.SnapshotDiff));
        var s = new SolverState { Iter = Iter, LearnedNet = model, CurrentStep = _currentStep };
        foreach (var h in History) s.History.Add(h.ToProto());
        AddLayerStates(s, TrainNet, "");
        for (int i = 0; i < TestNets.Count; i++) AddLayerStates(s, TestNets[i], $"test{i}/");
        s.LossHistory.AddRange(_losses);
        Info($"Snapshotting solver state to binary proto file {state}");
        WeightsFile.WriteAtomic(state, s);
        return (model, state);
    }

    private static void AddLayerStates(SolverState s, Net net, string prefix)
    {
        for (int i = 0; i < net.Layers.Count; i++)
            s.LayerState.Add(new LayerState { Layer = prefix + net.LayerKey(i), State = Google.Protobuf.ByteString.CopyFrom(net.Layers[i].SaveState()) });
    }

    /// <summary>
    /// Resume from a .solverstate (or its .caffemodel: the partner is found by name). Restores the
    /// weights, iteration, learning-rate state, history, layer states (data position, random
    /// generators) and the loss smoothing window, so training continues exactly.
    /// </summary>
    public void Restore(string path)
    {
        var statePath = path;
        if (path.EndsWith(".caffemodel", StringComparison.Ordinal))
            statePath = path[..^".caffemodel".Length] + ".solverstate";
        else if (path.EndsWith(".h5", StringComparison.Ordinal))
            throw new EngineException($"{path}: HDF5 snapshots are not supported; use the .solverstate");
        if (!File.Exists(statePath))
            throw new EngineException(statePath == path ? $"{path}: no such file" : $"{path}: its solver state {statePath} is missing; --snapshot needs the .solverstate");
        var s = WeightsFile.ReadSolverState(statePath);
        if (s.History.Count != History.Count)
            throw new EngineException($"{statePath}: {s.History.Count} history blobs, but solver {TypeName} on this net keeps {History.Count}; was it saved by another solver type or net?");

        var model = s.LearnedNet;
        if (!File.Exists(model))
        {
            var beside = Path.Combine(Path.GetDirectoryName(statePath) ?? "", Path.GetFileName(model));
            if (!File.Exists(beside)) throw new EngineException($"{statePath}: its weights file {model} is missing");
            model = beside;
        }
        TrainNet.CopyTrainedLayersFrom(model);
        Iter = s.Iter;
        _currentStep = s.CurrentStep;
        for (int i = 0; i < History.Count; i++)
        {
            if (!History[i].ShapeMatches(s.History[i]))
                throw new EngineException($"{statePath}: history blob {i} has shape ({string.Join(" ", Blob.ShapeOf(s.History[i]))}), expected {History[i].ShapeString}");
            History[i].FromProto(s.History[i], reshape: false);
        }
        var states = new Dictionary<string, byte[]>();
        foreach (var l in s.LayerState) states[l.Layer] = l.State.ToByteArray();
        RestoreLayerStates(states, TrainNet, "");
        for (int i = 0; i < TestNets.Count; i++) RestoreLayerStates(states, TestNets[i], $"test{i}/");
        _losses.Clear();
        _losses.AddRange(s.LossHistory);
        int tmp = _currentStep;
        float lr = LearningRatePolicy.Rate(Param, Iter, ref tmp);
        Info($"Restored from {statePath}: iteration {Iter}, learning rate {Log.Num(lr)} ({Param.LrPolicy}), solver {TypeName}, weights {model}");
    }

    private static void RestoreLayerStates(Dictionary<string, byte[]> states, Net net, string prefix)
    {
        for (int i = 0; i < net.Layers.Count; i++)
            if (states.TryGetValue(prefix + net.LayerKey(i), out var st)) net.Layers[i].LoadState(st);
    }

    // ------------------------------------------------------------------ nets

    private Net BuildTrainNet()
    {
        int sources = (Param.TrainNetParam != null ? 1 : 0) + (Param.HasTrainNet ? 1 : 0) + (Param.NetParam != null ? 1 : 0) + (Param.HasNet ? 1 : 0);
        if (sources == 0) throw new EngineException("solver: no net given; set `net` (or train_net / net_param / train_net_param)");
        if (sources > 1) throw new EngineException("solver: give exactly one of net, net_param, train_net, train_net_param");
        NetParameter p; string source;
        if (Param.TrainNetParam != null) (p, source) = (Param.TrainNetParam, "train_net_param");
        else if (Param.HasTrainNet) (p, source) = (NetFiles.ReadNet(Param.TrainNet), Param.TrainNet);
        else if (Param.NetParam != null) (p, source) = (Param.NetParam, "net_param");
        else (p, source) = (NetFiles.ReadNet(Param.Net), Param.Net);
        var state = new NetState { Phase = Phase.Train };
        if (p.State != null) state.MergeFrom(p.State);
        if (Param.TrainState != null) state.MergeFrom(Param.TrainState);
        state.Phase = Phase.Train;
        Info($"Creating training net from {source}");
        return new Net(p, state, Seed, Quiet, source);
    }

    private List<Net> BuildTestNets()
    {
        var sources = new List<(NetParameter, string)>();
        foreach (var p in Param.TestNetParam) sources.Add((p, "test_net_param"));
        foreach (var f in Param.TestNet) sources.Add((NetFiles.ReadNet(f), f));
        int generic = Param.TestIter.Count - sources.Count;
        if (generic > 0)
        {
            if (Param.NetParam != null) for (int i = 0; i < generic; i++) sources.Add((Param.NetParam, "net_param"));
            else if (Param.HasNet) { var p = NetFiles.ReadNet(Param.Net); for (int i = 0; i < generic; i++) sources.Add((p, Param.Net)); }
        }
        if (Param.TestIter.Count != sources.Count)
            throw new EngineException($"solver: {Param.TestIter.Count} test_iter values for {sources.Count} test nets; give one test_iter per test net");
        if (Param.TestState.Count > 0 && Param.TestState.Count != sources.Count)
            throw new EngineException($"solver: {Param.TestState.Count} test_state values for {sources.Count} test nets");
        if (sources.Count > 0 && Param.TestInterval <= 0 && Param.HasTestInterval)
            throw new EngineException("solver: test_interval must be positive when test nets are given");
        var nets = new List<Net>();
        for (int i = 0; i < sources.Count; i++)
        {
            var (p, source) = sources[i];
            var state = new NetState { Phase = Phase.Test };
            if (p.State != null) state.MergeFrom(p.State);
            if (i < Param.TestState.Count) state.MergeFrom(Param.TestState[i]);
            state.Phase = Phase.Test;
            Info($"Creating test net (#{i}) from {source}");
            // Built on the training net's weights: no weights of its own filled only to be replaced.
            nets.Add(new Net(p, state, Seed + (ulong)(i + 1) * 7919, Quiet, source, weightsFrom: TrainNet));
        }
        return nets;
    }

    protected void Info(string message)
    {
        if (!Quiet) Log.Info(message, "solver.cs");
    }
}
