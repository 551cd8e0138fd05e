using Engine.Backends;
using Engine.Proto;

namespace Engine.Core;

/// <summary>
/// A layer: set-up, reshape, forward, backward, as in Caffe. A subclass handles one `type`
/// string, named by <see cref="LayerTypeAttribute"/>, and takes its LayerParameter in its
/// constructor. Learnable parameters live in <see cref="Blobs"/>; their gradients are
/// accumulated (+=) in backward, so shared weights and iter_size sum correctly. Bottom
/// gradients are overwritten.
/// </summary>
public abstract class Layer
{
    protected Layer(LayerParameter param) => Param = param;

    public LayerParameter Param { get; }

    public string Name => Param.Name;

    public string Type => Param.Type;

    public Phase Phase => Param.Phase;

    /// <summary>Learnable parameters (and stored statistics) in Caffe's order.</summary>
    public List<Blob> Blobs { get; } = [];

    /// <summary>Per blob in <see cref="Blobs"/>: whether backward must compute its gradient.</summary>
    public bool[] ParamPropagateDown { get; internal set; } = [];

    /// <summary>This layer's random generator (dropout masks, data shuffles); part of snapshots.</summary>
    public Rng Rng { get; internal set; } = new(0);

    /// <summary>Seeded generator for the fillers at set-up.</summary>
    public Rng FillerRng { get; internal set; } = new(0);

    // Number of bottoms and tops a layer accepts; -1 = any.
    public virtual int ExactBottoms => -1;
    public virtual int MinBottoms => -1;
    public virtual int MaxBottoms => -1;
    public virtual int ExactTops => -1;
    public virtual int MinTops => -1;
    public virtual int MaxTops => -1;
    public virtual bool EqualBottomTopCount => false;

    /// <summary>True for loss layers: their first top gets loss_weight 1 unless the file says otherwise.</summary>
    public virtual bool IsLoss => false;

    /// <summary>Whether force_backward may ask for this bottom's gradient (false for labels).</summary>
    public virtual bool AllowForceBackward(int bottomIndex) => true;

    /// <summary>Whether the layer can compute a gradient for this bottom at all.</summary>
    public virtual bool CanBackward(int bottomIndex) => true;

    /// <summary>
    /// Whether parameter blob <paramref name="blobIndex"/> is learned. False for stored statistics
    /// (BatchNorm's running sums): the net then treats it as lr_mult 0 and decay_mult 0, whatever
    /// the file says, and asks for no gradient.
    /// </summary>
    public virtual bool IsLearnable(int blobIndex) => true;

    /// <summary>Set up once: check the blob counts, read parameters, create weights, then reshape.</summary>
    public void SetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        CheckBlobCounts(bottom, top);
        LayerSetUp(bottom, top);
        Reshape(bottom, top);
    }

    /// <summary>One-time set-up: read the layer's parameters, create and fill learnable blobs.</summary>
    public virtual void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) { }

    /// <summary>Size the tops (and internal buffers) for the bottoms' current shapes.</summary>
    public abstract void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top);

    public abstract void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top);

    /// <summary>
    /// Gradients: for each i with propagateDown[i], overwrite bottom[i].Diff; for each learnable
    /// blob j with ParamPropagateDown[j], add to Blobs[j].Diff.
    /// </summary>
    public virtual void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        for (int i = 0; i < propagateDown.Count; i++)
            if (propagateDown[i]) throw Error($"cannot back-propagate to bottom \"{bottom[i].Name}\"");
    }

    /// <summary>
    /// Whether this layer, as configured, runs on a device backend (<see cref="ForwardOn"/> and
    /// <see cref="BackwardOn"/>). A layer that does not runs its host code on a device net: its
    /// blobs are brought to the host and back as it reads and writes them, so every net works on
    /// every backend and a layer moves to the device when it gets its device code.
    /// </summary>
    public virtual bool RunsOnDevice => false;

    /// <summary>Forward on <paramref name="backend"/>, through the blobs' <c>DataOn</c>/<c>MutableDataOn</c> views.</summary>
    public virtual void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) =>
        throw new NotSupportedException($"layer \"{Name}\" ({Type}) has no device forward");

    /// <summary>Backward on <paramref name="backend"/>, with the same contract as <see cref="Backward"/>.</summary>
    public virtual void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom) =>
        throw new NotSupportedException($"layer \"{Name}\" ({Type}) has no device backward");

    /// <summary>Bytes of scratch memory the layer holds besides its blobs (column buffers, prefetched
    /// batches), for the memory report of `engine time`.</summary>
    public virtual long WorkspaceBytes => 0;

    /// <summary>State that must survive a snapshot (beyond weights), e.g. a data cursor. Default: the RNG.</summary>
    public virtual byte[] SaveState() => Rng.SaveState();

    public virtual void LoadState(byte[] state) => Rng.LoadState(state);

    /// <summary>
    /// Create the weight blob (and a bias of <paramref name="biasCount"/> values, when non-zero)
    /// from their fillers; when the blobs already exist (set before set-up, or a layer with
    /// several bottoms set up again) check their shapes instead.
    /// </summary>
    protected void SetUpWeights(int[] weightShape, FillerParameter? weightFiller, int biasCount, FillerParameter? biasFiller)
    {
        if (Blobs.Count > 0)
        {
            int expected = biasCount > 0 ? 2 : 1;
            if (Blobs.Count != expected)
                throw Error($"has {Blobs.Count} parameter blobs, expected {expected} (bias_term: {(biasCount > 0 ? "true" : "false")})");
            if (!Blobs[0].ShapeEquals(weightShape))
                throw Error($"weight shape {Blobs[0].ShapeString} does not match ({string.Join(" ", weightShape)})");
            if (biasCount > 0 && !Blobs[1].ShapeEquals([biasCount]))
                throw Error($"bias shape {Blobs[1].ShapeString} does not match ({biasCount})");
            return;
        }
        var weight = new Blob("", weightShape);
        Filler.Fill(weight, weightFiller, FillerRng, Name);
        Blobs.Add(weight);
        if (biasCount > 0)
        {
            var bias = new Blob("", biasCount);
            Filler.Fill(bias, biasFiller, FillerRng, Name);
            Blobs.Add(bias);
        }
        ParamPropagateDown = Enumerable.Repeat(true, Blobs.Count).ToArray();
    }

    /// <summary>A user-facing error that names this layer.</summary>
    protected EngineException Error(string message) => new($"layer \"{Name}\" ({Type}): {message}");

    private void CheckBlobCounts(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        static string Plural(int n, string what) => n == 1 ? $"1 {what}" : $"{n} {what}s";
        if (ExactBottoms >= 0 && bottom.Count != ExactBottoms)
            throw Error($"takes {Plural(ExactBottoms, "bottom")}, got {bottom.Count}");
        if (MinBottoms >= 0 && bottom.Count < MinBottoms)
            throw Error($"takes at least {Plural(MinBottoms, "bottom")}, got {bottom.Count}");
        if (MaxBottoms >= 0 && bottom.Count > MaxBottoms)
            throw Error($"takes at most {Plural(MaxBottoms, "bottom")}, got {bottom.Count}");
        if (ExactTops >= 0 && top.Count != ExactTops)
            throw Error($"produces {Plural(ExactTops, "top")}, got {top.Count}");
        if (MinTops >= 0 && top.Count < MinTops)
            throw Error($"produces at least {Plural(MinTops, "top")}, got {top.Count}");
        if (MaxTops >= 0 && top.Count > MaxTops)
            throw Error($"produces at most {Plural(MaxTops, "top")}, got {top.Count}");
        if (EqualBottomTopCount && bottom.Count != top.Count)
            throw Error($"needs as many tops as bottoms, got {bottom.Count} bottoms and {top.Count} tops");
    }

    public override string ToString() => $"{Name} ({Type})";
}
