using Engine.Backends;
using Engine.Core;
using Engine.IO;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Caffe's InfogainLoss: bottom 0 holds scores (outer × C × inner along infogain_loss_param.axis,
/// d 1), bottom 1 the labels, and the C × C infogain matrix H comes from infogain_loss_param.source
/// (a .binaryproto BlobProto) or, without a source, from bottom 2. An internal softmax gives p;
/// loss = −Σ_positions Σ_k H[label, k]·log(max(p_k, FLT_MIN)) / normalizer, with ignore_label and
/// normalization as SoftmaxWithLoss (default VALID; the deprecated `normalize` is rejected, as in
/// Caffe). The score gradient is (p_j·Σ_k H[label, k] − H[label, j])·loss_weight/normalizer. With
/// H = I this is SoftmaxWithLoss. An optional second top receives the probabilities. No gradient
/// to the labels or H.
/// </summary>
[LayerType("InfogainLoss")]
public sealed class InfogainLossLayer : LabelLossLayer
{
    private readonly Blob _prob = new("prob");
    private readonly Blob _grad = new("grad");
    private Blob? _fileH;
    private float[] _scratch = [];
    private int[] _labels = [];

    public InfogainLossLayer(LayerParameter param) : base(param) { }

    public override int ExactBottoms => -1;
    public override int MinBottoms => 2;
    public override int MaxBottoms => 3;
    public override int MaxTops => 2;
    public override bool AllowForceBackward(int bottomIndex) => bottomIndex == 0;
    public override bool CanBackward(int bottomIndex) => bottomIndex == 0;

    protected override int AxisParam => Param.InfogainLossParam?.Axis ?? 1;

    /// <summary>Reads H from infogain_loss_param.source (a BlobProto), or null when no source is given.</summary>
    internal static Blob? ReadH(LayerParameter param)
    {
        var source = param.InfogainLossParam?.Source;
        if (string.IsNullOrEmpty(source)) return null;
        var h = new Blob("H");
        h.FromProto(WeightsFile.ReadBlob(source));
        return h;
    }

    /// <summary>Checks that H holds C × C values.</summary>
    internal static void CheckH(Blob h, int channels, Func<string, Exception> error)
    {
        if (h.Count != (long)channels * channels)
            throw error($"the infogain matrix \"{h.Name}\" {h.ShapeString} must hold {channels} × {channels} values, one row and column per class");
    }

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        if (Param.LossParam is { HasNormalize: true })
            throw Error("loss_param.normalize is deprecated and not accepted by InfogainLoss; use normalization");
        base.LayerSetUp(bottom, top);
        _fileH = ReadH(Param);
        if (_fileH != null && bottom.Count > 2)
            throw Error("takes the infogain matrix from infogain_loss_param.source or from a third bottom, not both");
        if (_fileH == null && bottom.Count < 3)
            throw Error("needs the infogain matrix: infogain_loss_param { source: \"H.binaryproto\" } or a third bottom");
    }

    private Blob H(IReadOnlyList<Blob> bottom) => _fileH ?? bottom[2];

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        base.Reshape(bottom, top);
        CheckH(H(bottom), Channels, Error);
        _prob.ReshapeLike(bottom[0]);
        _grad.ReshapeLike(bottom[0]);
        SoftmaxLayer.EnsureScratch(ref _scratch, Inner);
        if (top.Count > 1)
        {
            top[1].ReshapeLike(bottom[0]);
            top[1].ShareData(_prob);
        }
    }

    /// <summary>
    /// Σ over the positions with a label ≥ 0 of −cw[label]·Σ_k w_k·H[label, k]·log(max(p_k, FLT_MIN)),
    /// p the probabilities (outer × C × inner); <paramref name="grad"/> receives the gradient w.r.t.
    /// the scores under the softmax, p_j·Σ_k c_k − c_j with c_k = cw[label]·w_k·H[label, k] (0 at
    /// positions labelled −1). w_k is element k's weight in <paramref name="weights"/>.
    /// </summary>
    public static double Sum(ReadOnlySpan<float> prob, ReadOnlySpan<int> labels, ReadOnlySpan<float> h, int outer, int channels, int inner,
        LossWeights? weights, float[]? classWeights, Span<float> grad)
    {
        double loss = 0;
        for (int i = 0; i < outer; i++)
            for (int j = 0; j < inner; j++)
            {
                int label = labels[i * inner + j], at = i * channels * inner + j;
                if (label < 0)
                {
                    for (int k = 0; k < channels; k++) grad[at + k * inner] = 0;
                    continue;
                }
                float cw = classWeights == null ? 1f : classWeights[label];
                double rowSum = 0;
                for (int k = 0; k < channels; k++)
                {
                    int e = at + k * inner;
                    double c = cw * LossWeights.At(weights, e) * h[label * channels + k];
                    rowSum += c;
                    loss -= c * Math.Log(Math.Max(prob[e], FltMin));
                    grad[e] = (float)-c;
                }
                for (int k = 0; k < channels; k++)
                {
                    int e = at + k * inner;
                    grad[e] = (float)(prob[e] * rowSum + grad[e]);
                }
            }
        return loss;
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        SoftmaxLayer.Compute(bottom[0].Data, _prob.Data, Outer, Channels, Inner, _scratch);
        var labels = ReadLabels(bottom[1].Data, ref _labels);
        double loss = Sum(_prob.Data, labels, H(bottom).Data, Outer, Channels, Inner, null, ClassWeights, _grad.Data);
        top[0].Data[0] = (float)(loss / Normalizer(ValidCount));
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        for (int i = 1; i < propagateDown.Count; i++)
            if (propagateDown[i]) throw Error($"cannot back-propagate to {(i == 1 ? "the labels" : "the infogain matrix")} \"{bottom[i].Name}\" (bottom {i})");
        if (!propagateDown[0]) return;
        System.Numerics.Tensors.TensorPrimitives.Multiply(_grad.Data, GradientScale(top[0]), bottom[0].Diff);
    }

    // ---- device code: softmax, per-position loss and gradient, one reduction ----------------

    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        CheckLabelsOnHost(bottom[1]);
        var prob = _prob.MutableDataOn(backend);
        backend.SoftmaxForward(Outer, Channels, Inner, bottom[0].DataOn(backend), prob);
        int positions = Outer * Inner;
        BufferView losses = Scratch.Losses(backend, positions), counts = Scratch.Counts(backend, positions);
        backend.InfogainForward(Outer, Channels, Inner, prob, bottom[1].DataOn(backend), IgnoreOrNull, H(bottom).DataOn(backend),
            Scratch.ClassWeights(backend, ClassWeights), losses, counts, _grad.MutableDataOn(backend));
        ReduceOn(backend, losses, counts, top[0]);
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        for (int i = 1; i < propagateDown.Count; i++)
            if (propagateDown[i]) throw Error($"cannot back-propagate to {(i == 1 ? "the labels" : "the infogain matrix")} \"{bottom[i].Name}\" (bottom {i})");
        if (!propagateDown[0]) return;
        backend.LossScale(1f, _grad.DataOn(backend), top[0].DiffOn(backend), Scratch.Normalizer(backend), bottom[0].MutableDiffOn(backend));
    }
}
