using System.Diagnostics;
using Engine.Backends;
using Engine.Core;
using Engine.IO;
using Engine.Proto;
using Engine.Text;

namespace Engine.Graph;

/// <summary>
/// A built net: layers in order, the blobs between them, the learnable parameters, and forward
/// / backward over all of it. What pycaffe's caffe.Net is to Caffe:
/// <code>
/// var net = Net.FromFile("lenet.prototxt", Phase.Test);
/// net.CopyTrainedLayersFrom("lenet.caffemodel");
/// data.CopyTo(net.Blob("data").Data); net.Forward();
/// var prob = net.Blob("prob").Data;
/// </code>
/// Building follows Caffe's Net::Init: filter by NetState, insert splits, then for each layer
/// append bottoms, tops and params, set up, and decide which layers need backward.
/// Dispose stops the data layers' prefetch threads and closes their files.
/// </summary>
public sealed partial class Net : IDisposable
{
    private readonly List<Layer> _layers = [];
    private readonly List<Blob[]> _bottoms = [];
    private readonly List<Blob[]> _tops = [];
    private readonly List<bool[]> _bottomNeedBackward = [];
    private readonly List<bool> _layerNeedBackward = [];
    private readonly Dictionary<string, Blob> _blobsByName = new(StringComparer.Ordinal);
    private readonly List<Blob> _blobs = [];
    private readonly List<(Blob blob, float weight)> _lossTops = [];
    private readonly List<Blob> _outputs = [];
    private readonly List<Blob> _inputs = [];
    private readonly List<LearnableParam> _params = [];
    private readonly List<string> _layerKeys = [];

    /// <summary>A learnable blob (owned, not shared) with its multipliers.</summary>
    public sealed record LearnableParam(Blob Blob, Layer Layer, int Index, float LrMult, float DecayMult);

    /// <param name="weightsFrom">A net whose weights this one uses (the solver's training net, for a
    /// test net): each layer named like one of its layers with weights takes them before set-up
    /// (data shared, gradients of its own), as <see cref="ShareTrainedLayersWith"/> would leave it,
    /// so no weights are filled here only to be dropped. A layer only this net has is filled from
    /// this net's filler generator as before, but the shared layers no longer draw from it first.</param>
    public Net(NetParameter param, NetState state, ulong seed = 1701, bool quiet = false, string source = "<net>", Net? weightsFrom = null)
    {
        Source = source;
        State = state.Clone();
        Phase = state.Phase;
        var filtered = NetFilter.Filter(param, state);
        var withSplits = SplitInserter.Insert(filtered);
        Name = param.Name;
        DebugInfo = param.DebugInfo;
        Build(withSplits, param.ForceBackward, seed, quiet, weightsFrom);
    }

    /// <summary>
    /// Print, as Caffe's debug_info does, each layer's mean |top data| after forward, mean
    /// |bottom diff| and |param diff| after backward (see <see cref="NetDebugInfo"/>). Starts as
    /// NetParameter.debug_info; a solver turns it on for its display iterations.
    /// </summary>
    public bool DebugInfo
    {
        get => _debugInfo;
        set
        {
            _debugInfo = value;
            foreach (var scale in _fusedScales) scale.FuseEnabled = !value;
        }
    }
    private bool _debugInfo;

    // The Scales paired with the BatchNorm before them (BatchNormScaleFusion).
    private List<Engine.Layers.ScaleLayer> _fusedScales = [];

    /// <summary>Read a net prototxt (V1 nets are upgraded) and build it for a phase.</summary>
    public static Net FromFile(string path, Phase phase, int level = 0, IEnumerable<string>? stages = null, ulong seed = 1701, bool quiet = false)
    {
        var param = NetFiles.ReadNet(path);
        var state = new NetState { Phase = phase, Level = level };
        if (stages != null) state.Stage.AddRange(stages);
        return new Net(param, state, seed, quiet, path);
    }

    public string Name { get; }
    public string Source { get; }
    public NetState State { get; }
    public Phase Phase { get; }

    public IReadOnlyList<Layer> Layers => _layers;
    public IReadOnlyList<Blob[]> Bottoms => _bottoms;
    public IReadOnlyList<Blob[]> Tops => _tops;
    public IReadOnlyList<bool> LayerNeedBackward => _layerNeedBackward;
    public IReadOnlyList<bool[]> BottomNeedBackward => _bottomNeedBackward;
    public IReadOnlyList<Blob> AllBlobs => _blobs;

    /// <summary>Blobs that no layer consumes: what `engine test` reports.</summary>
    public IReadOnlyList<Blob> Outputs => _outputs;

    /// <summary>Tops of Input layers: what a caller fills.</summary>
    public IReadOnlyList<Blob> Inputs => _inputs;

    public IReadOnlyList<LearnableParam> LearnableParams => _params;

    /// <summary>Loss weight of each output blob (0 for non-loss outputs).</summary>
    public float OutputLossWeight(Blob blob) => _lossTops.FirstOrDefault(t => t.blob == blob).weight;

    public bool HasBlob(string name) => _blobsByName.ContainsKey(name);

    public Blob Blob(string name) => _blobsByName.TryGetValue(name, out var b)
        ? b : throw new EngineException($"net \"{Name}\": no blob named \"{name}\"; blobs: {string.Join(", ", _blobsByName.Keys)}");

    public Layer Layer(string name) => _layers.FirstOrDefault(l => l.Name == name)
        ?? throw new EngineException($"net \"{Name}\": no layer named \"{name}\"");

    public bool HasLayer(string name) => _layers.Any(l => l.Name == name);

    /// <summary>
    /// A name for layer <paramref name="index"/> that is unique in this net: its name, with
    /// "#k" added for the k-th layer of a repeated name. Snapshots key layer state by it.
    /// </summary>
    public string LayerKey(int index) => _layerKeys[index];

    private void Build(NetParameter param, bool forceBackward, ulong seed, bool quiet, Net? weightsFrom)
    {
        var fillerRng = new Rng(seed);
        var paramOwners = new Dictionary<string, LearnableParam>(StringComparer.Ordinal);
        var available = new HashSet<string>(StringComparer.Ordinal);
        var blobNeedBackward = new Dictionary<Blob, bool>();

        for (int li = 0; li < param.Layer.Count; li++)
        {
            var lp = param.Layer[li].Clone();
            lp.Phase = Phase;
            if (!lp.HasName || lp.Name.Length == 0) lp.Name = $"{lp.Type}{li}";
            // Caffe allows repeated names (its autoencoder has two layers named "loss"); weights
            // and snapshot state are matched by name, so the occurrence number tells them apart.
            int occurrence = _layers.Count(l => l.Name == lp.Name);
            _layerKeys.Add(occurrence == 0 ? lp.Name : $"{lp.Name}#{occurrence + 1}");
            if (lp.PropagateDown.Count > 0 && lp.PropagateDown.Count != lp.Bottom.Count)
                throw new EngineException($"layer \"{lp.Name}\" ({lp.Type}): propagate_down has {lp.PropagateDown.Count} entries for {lp.Bottom.Count} bottoms");
            var layer = LayerRegistry.Create(lp);
            layer.Rng = new Rng(seed ^ (0x9E3779B97F4A7C15UL * (ulong)(li + 1)));
            layer.FillerRng = fillerRng;

            // Bottoms: each must exist, and a blob is consumed once (splits were inserted).
            var bottoms = new Blob[lp.Bottom.Count];
            bool needBackward = false;
            var bottomNeed = new bool[lp.Bottom.Count];
            for (int b = 0; b < lp.Bottom.Count; b++)
            {
                var name = lp.Bottom[b];
                if (!_blobsByName.TryGetValue(name, out var blob) || !available.Contains(name))
                    throw new EngineException($"layer \"{lp.Name}\" ({lp.Type}): unknown bottom blob \"{name}\"");
                bottoms[b] = blob;
                available.Remove(name);
                bool need = blobNeedBackward[blob] || (forceBackward && layer.AllowForceBackward(b));
                if (lp.PropagateDown.Count > 0 && !lp.PropagateDown[b]) need = false;
                if (!layer.CanBackward(b)) need = false;
                bottomNeed[b] = need;
                needBackward |= need;
            }

            // Tops: new blobs, or in place (top named like one of its bottoms).
            var tops = new Blob[lp.Top.Count];
            for (int t = 0; t < lp.Top.Count; t++)
            {
                var name = lp.Top[t];
                int inPlace = lp.Bottom.IndexOf(name);
                if (inPlace >= 0)
                {
                    tops[t] = bottoms[inPlace];
                }
                else
                {
                    if (_blobsByName.ContainsKey(name))
                        throw new EngineException($"layer \"{lp.Name}\" ({lp.Type}): top blob \"{name}\" is produced by more than one layer");
                    tops[t] = new Blob(name);
                    _blobsByName[name] = tops[t];
                    _blobs.Add(tops[t]);
                }
                available.Add(name);
            }

            // Weights shared with another net are given before set-up, so the layer checks their
            // shapes instead of filling its own (the first layer of a name takes those of the last
            // source layer of that name, where ShareTrainedLayersWith leaves them).
            var shared = occurrence == 0 ? weightsFrom?._layers.LastOrDefault(l => l.Name == lp.Name && l.Blobs.Count > 0) : null;
            if (shared != null)
            {
                foreach (var b in shared.Blobs) layer.Blobs.Add(Core.Blob.SharingDataOf(b));
                try
                {
                    layer.SetUp(bottoms, tops);
                }
                catch (EngineException e)
                {
                    throw new EngineException($"{e.Message} (its weights are those of layer \"{shared.Name}\" in the {weightsFrom!.Phase} net)", e);
                }
            }
            else layer.SetUp(bottoms, tops);

            // Loss weights: explicit per top, or 1 on the first top of a loss layer.
            for (int t = 0; t < tops.Length; t++)
            {
                float w = t < lp.LossWeight.Count ? lp.LossWeight[t] : (layer.IsLoss && t == 0 ? 1f : 0f);
                if (lp.LossWeight.Count > tops.Length)
                    throw new EngineException($"layer \"{lp.Name}\" ({lp.Type}): {lp.LossWeight.Count} loss_weight values for {tops.Length} tops");
                if (w != 0) _lossTops.Add((tops[t], w));
            }

            // Parameters: multipliers, train_me, sharing by name.
            if (lp.Param.Count > layer.Blobs.Count)
                throw new EngineException($"layer \"{lp.Name}\" ({lp.Type}): {lp.Param.Count} param specs but the layer has {layer.Blobs.Count} parameter blobs");
            layer.ParamPropagateDown = new bool[layer.Blobs.Count];
            for (int p = 0; p < layer.Blobs.Count; p++)
            {
                var spec = p < lp.Param.Count ? lp.Param[p] : new ParamSpec();
                bool learnable = layer.IsLearnable(p);
                float lr = lp.TrainMe && learnable ? spec.LrMult : 0f;
                float decay = learnable ? spec.DecayMult : 0f;
                var blob = layer.Blobs[p];
                if (blob.Name.Length == 0) blob.Name = $"{lp.Name}[{p}]";
                if (spec.HasName && spec.Name.Length > 0 && paramOwners.TryGetValue(spec.Name, out var owner))
                {
                    bool strict = spec.ShareMode == ParamSpec.Types.DimCheckMode.Strict;
                    if (strict ? !blob.ShapeEquals(owner.Blob) : blob.Count != owner.Blob.Count)
                        throw new EngineException($"layer \"{lp.Name}\" ({lp.Type}): shared param \"{spec.Name}\" has shape {blob.ShapeString} here but {owner.Blob.ShapeString} in its owner layer \"{owner.Layer.Name}\"");
                    if (spec.HasLrMult && lr != owner.LrMult)
                        throw new EngineException($"layer \"{lp.Name}\" ({lp.Type}): shared param \"{spec.Name}\" has lr_mult {lr} but {owner.LrMult} in \"{owner.Layer.Name}\"");
                    if (spec.HasDecayMult && decay != owner.DecayMult)
                        throw new EngineException($"layer \"{lp.Name}\" ({lp.Type}): shared param \"{spec.Name}\" has decay_mult {decay} but {owner.DecayMult} in \"{owner.Layer.Name}\"");
                    blob.ShareData(owner.Blob);
                    blob.ShareDiff(owner.Blob);
                    lr = owner.LrMult;
                }
                else
                {
                    var lpOwn = new LearnableParam(blob, layer, p, lr, decay);
                    _params.Add(lpOwn);
                    if (spec.HasName && spec.Name.Length > 0) paramOwners[spec.Name] = lpOwn;
                }
                layer.ParamPropagateDown[p] = lr != 0;
                needBackward |= lr != 0;
            }

            foreach (var top in tops) blobNeedBackward[top] = needBackward;
            _layers.Add(layer);
            _bottoms.Add(bottoms);
            _tops.Add(tops);
            _bottomNeedBackward.Add(bottomNeed);
            _layerNeedBackward.Add(needBackward);
            if (lp.Type == "Input") _inputs.AddRange(tops);

            if (!quiet)
                foreach (var top in tops)
                    Log.Info($"{lp.Name} -> {top.Name}: {top.ShapeString}", "net.cs");
        }

        // Outputs in name order, as Caffe lists them.
        foreach (var name in available.Order(StringComparer.Ordinal)) _outputs.Add(_blobsByName[name]);
        PruneBackward(forceBackward);
        SoftmaxPairing.Apply(this);
        _fusedScales = BatchNormScaleFusion.Apply(this);
        if (!quiet) LogMemory();
    }

    /// <summary>
    /// Layers whose tops never reach a loss do no backward (Caffe's "does not need backward
    /// computation"), unless force_backward asks for it.
    /// </summary>
    private void PruneBackward(bool forceBackward)
    {
        var underLoss = new HashSet<Blob>(_lossTops.Select(t => t.blob));
        for (int i = _layers.Count - 1; i >= 0; i--)
        {
            bool contributes = _tops[i].Any(underLoss.Contains);
            if (!contributes && !forceBackward)
            {
                _layerNeedBackward[i] = false;
                Array.Fill(_bottomNeedBackward[i], false);
            }
            if (contributes)
                for (int b = 0; b < _bottoms[i].Length; b++) underLoss.Add(_bottoms[i][b]);
        }
    }

    /// <summary>Bytes held now: blob data and gradients (every distinct buffer once; parameters
    /// excluded), parameters and their gradients, and the layers' workspaces.</summary>
    public (long blobs, long parameters, long workspace) MemoryInUse()
    {
        var seen = new HashSet<BlobMemory>(ReferenceEqualityComparer.Instance);
        var paramBlobs = new HashSet<Blob>(_params.Select(p => p.Blob), ReferenceEqualityComparer.Instance);
        long Sum(IEnumerable<Blob> blobs)
        {
            long bytes = 0;
            foreach (var b in blobs)
            {
                if (seen.Add(b.DataMemory)) bytes += (long)b.DataMemory.Capacity * sizeof(float);
                if (seen.Add(b.DiffMemory)) bytes += (long)b.DiffMemory.Capacity * sizeof(float);
            }
            return bytes;
        }
        long parameters = Sum(_params.Select(p => p.Blob));
        long blobs = Sum(_blobs.Where(b => !paramBlobs.Contains(b)));
        long workspace = _layers.Sum(l => l.WorkspaceBytes);
        return (blobs, parameters, workspace);
    }

    private void LogMemory()
    {
        long data = _blobs.Sum(b => b.Count) * sizeof(float);
        long param = _params.Sum(p => p.Blob.Count) * sizeof(float);
        long paramCount = _params.Sum(p => p.Blob.Count);
        Log.Info($"Network \"{Name}\" ({Phase}): {_layers.Count} layers, {paramCount} learnable parameters; " +
                 $"memory: data {Log.Bytes(data)}, gradients {Log.Bytes(data)}, parameters {Log.Bytes(param)} (+{Log.Bytes(param)} gradients)", "net.cs");
    }

    /// <summary>Run every layer forward; returns the weighted sum of the losses.</summary>
    public float Forward() => ForwardFromTo(0, _layers.Count - 1);

    public float ForwardFromTo(int start, int end)
    {
        for (int i = start; i <= end; i++) ForwardLayer(i);
        return CurrentLoss();
    }

    /// <summary>Layer <paramref name="i"/>'s forward, on the net's backend when the layer runs there.</summary>
    public void ForwardLayer(int i)
    {
        var layer = _layers[i];
        if (Backend != null && layer.RunsOnDevice) layer.ForwardOn(Backend, _bottoms[i], _tops[i]);
        else
        {
            layer.Forward(_bottoms[i], _tops[i]);
            // A data layer's batch starts for the device at once; the host goes on enqueuing
            // the layers, which the stream orders after the copy.
            if (Backend != null && _bottoms[i].Length == 0)
                foreach (var top in _tops[i]) top.DataMemory.UploadAsync(Backend, (int)top.Count);
        }
        if (DebugInfo) NetDebugInfo.Forward(this, i);
    }

    /// <summary>Layer <paramref name="i"/>'s backward (when the net needs it), on the net's backend when the layer runs there.</summary>
    public void BackwardLayer(int i)
    {
        if (!_layerNeedBackward[i]) return;
        var layer = _layers[i];
        if (Backend != null && layer.RunsOnDevice) layer.BackwardOn(Backend, _tops[i], _bottomNeedBackward[i], _bottoms[i]);
        else layer.Backward(_tops[i], _bottomNeedBackward[i], _bottoms[i]);
        if (DebugInfo) NetDebugInfo.Backward(this, i);
    }

    /// <summary>
    /// The device backend the net runs on (null: the CPU). Layers with device code
    /// (<see cref="Layer.RunsOnDevice"/>) run there; the others run on the host, their blobs
    /// copied over as they read them.
    /// </summary>
    public IBackend? Backend { get; private set; }

    /// <summary>Run on <paramref name="backend"/> from now on (null: back to the CPU, every blob brought home).</summary>
    public void UseBackend(IBackend? backend)
    {
        if (ReferenceEquals(backend, Backend)) return;
        if (backend == null)
            foreach (var m in AllMemory()) m.Detach();
        Backend = backend;
    }

    /// <summary>The layers that run on the net's backend and those that fall back to the host.</summary>
    public (List<Layer> device, List<Layer> host) DevicePlacement()
    {
        var device = _layers.Where(l => l.RunsOnDevice).ToList();
        return (device, _layers.Where(l => !l.RunsOnDevice).ToList());
    }

    private IEnumerable<BlobMemory> AllMemory()
    {
        var seen = new HashSet<BlobMemory>(ReferenceEqualityComparer.Instance);
        foreach (var b in _blobs.Concat(_layers.SelectMany(l => l.Blobs)))
        {
            if (seen.Add(b.DataMemory)) yield return b.DataMemory;
            if (seen.Add(b.DiffMemory)) yield return b.DiffMemory;
        }
    }

    /// <summary>The weighted loss of the last forward pass.</summary>
    public float CurrentLoss()
    {
        double loss = 0;
        foreach (var (blob, w) in _lossTops)
        {
            double s = 0;
            foreach (var v in blob.ConstData) s += v;
            loss += w * s;
        }
        return (float)loss;
    }

    /// <summary>Back-propagate from the losses through every layer that needs it.</summary>
    public void Backward()
    {
        BackwardFromTo(_layers.Count - 1, 0);
        if (DebugInfo) NetDebugInfo.AllParams(this);
    }

    public void BackwardFromTo(int start, int end)
    {
        SeedLossGradients();
        for (int i = start; i >= end; i--) BackwardLayer(i);
    }

    /// <summary>Set each loss top's gradient to its loss weight, where backward starts.</summary>
    public void SeedLossGradients()
    {
        foreach (var (blob, w) in _lossTops) blob.Diff.Fill(w);
    }

    public float ForwardBackward()
    {
        float loss = Forward();
        Backward();
        return loss;
    }

    /// <summary>Reshape every layer for new input shapes (after resizing an Input blob).</summary>
    public void Reshape()
    {
        for (int i = 0; i < _layers.Count; i++) _layers[i].Reshape(_bottoms[i], _tops[i]);
    }

    /// <summary>Zero the gradients of all learnable parameters.</summary>
    public void ClearParamDiffs()
    {
        foreach (var p in _params) p.Blob.ClearDiff();
    }

    /// <summary>
    /// Make this net use <paramref name="other"/>'s weights (by layer name), as a test net shares
    /// the training net's weights.
    /// </summary>
    public void ShareTrainedLayersWith(Net other)
    {
        foreach (var src in other._layers)
        {
            var dst = _layers.FirstOrDefault(l => l.Name == src.Name);
            if (dst == null) continue;
            if (dst.Blobs.Count != src.Blobs.Count)
                throw new EngineException($"layer \"{dst.Name}\": {dst.Blobs.Count} parameter blobs in the {Phase} net but {src.Blobs.Count} in the {other.Phase} net");
            for (int i = 0; i < dst.Blobs.Count; i++)
            {
                if (!dst.Blobs[i].ShapeEquals(src.Blobs[i]))
                    throw new EngineException($"layer \"{dst.Name}\": parameter {i} has shape {dst.Blobs[i].ShapeString} in the {Phase} net but {src.Blobs[i].ShapeString} in the {other.Phase} net");
                dst.Blobs[i].ShareData(src.Blobs[i]);
            }
        }
    }

    /// <summary>Copy weights from a .caffemodel (binary NetParameter) by layer name.</summary>
    public void CopyTrainedLayersFrom(string path) => CopyTrainedLayersFrom(WeightsFile.ReadNet(path), path);

    public void CopyTrainedLayersFrom(NetParameter trained, string source = "<weights>")
    {
        foreach (var src in trained.Layer)
        {
            var dst = _layers.FirstOrDefault(l => l.Name == src.Name);
            if (dst == null || src.Blobs.Count == 0) continue;
            if (dst.Blobs.Count != src.Blobs.Count)
                throw new EngineException($"{source}: layer \"{dst.Name}\" has {src.Blobs.Count} blobs in the weights but {dst.Blobs.Count} in the net");
            for (int i = 0; i < src.Blobs.Count; i++)
            {
                if (!dst.Blobs[i].ShapeMatches(src.Blobs[i]))
                    throw new EngineException($"{source}: layer \"{dst.Name}\" param {i}: shape ({string.Join(" ", Core.Blob.ShapeOf(src.Blobs[i]))}) in the weights but {dst.Blobs[i].ShapeString} in the net; rename the layer to start it from its filler");
                dst.Blobs[i].FromProto(src.Blobs[i], reshape: false);
            }
        }
    }

    /// <summary>The net with its weights, as Caffe writes a .caffemodel.</summary>
    public NetParameter ToProto(bool writeDiff = false)
    {
        var p = new NetParameter { Name = Name };
        foreach (var layer in _layers)
        {
            var lp = layer.Param.Clone();
            lp.Blobs.Clear();
            foreach (var b in layer.Blobs) lp.Blobs.Add(b.ToProto(writeDiff));
            p.Layer.Add(lp);
        }
        return p;
    }


    /// <summary>
    /// Time the data layers' forwards have spent waiting for batches (see
    /// <see cref="PrefetchingDataLayer.DataWait"/>), summed over the net's data layers.
    /// </summary>
    public TimeSpan DataWait
    {
        get
        {
            var sum = TimeSpan.Zero;
            foreach (var l in _layers)
                if (l is PrefetchingDataLayer d) sum += d.DataWait;
            return sum;
        }
    }

    /// <summary>Stop the data layers' threads and close what the layers hold open.</summary>
    public void Dispose()
    {
        foreach (var l in _layers)
            if (l is IDisposable d) d.Dispose();
    }

    /// <summary>Index of the layer that produces a blob (last writer), or -1.</summary>
    public int ProducerOf(Blob blob)
    {
        for (int i = _layers.Count - 1; i >= 0; i--)
            if (Array.IndexOf(_tops[i], blob) >= 0) return i;
        return -1;
    }

    /// <summary>Indexes of the layers reading a blob.</summary>
    public IEnumerable<int> ConsumersOf(Blob blob)
    {
        for (int i = 0; i < _layers.Count; i++)
            if (Array.IndexOf(_bottoms[i], blob) >= 0) yield return i;
    }
}
