using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Caffe's MultinomialLogisticLoss: bottom 0 holds probabilities, N × dim (everything after the
/// first axis is the class), bottom 1 one label per item (N values in [0, dim)).
/// loss = −Σ log(max(p_label, 1e−20)) / N; the gradient is −loss_weight/(N·max(p_label, 1e−20))
/// at the label and 0 elsewhere. No gradient to the labels.
/// </summary>
[LayerType("MultinomialLogisticLoss")]
public sealed class MultinomialLogisticLossLayer : Layer
{
    /// <summary>Caffe's kLOG_THRESHOLD.</summary>
    public const float LogThreshold = 1e-20f;

    public MultinomialLogisticLossLayer(LayerParameter param) : base(param) { }

    public override int ExactBottoms => 2;
    public override int MinTops => 1;
    public override int MaxTops => 1;
    public override bool IsLoss => true;
    public override bool AllowForceBackward(int bottomIndex) => bottomIndex != 1;
    public override bool CanBackward(int bottomIndex) => bottomIndex != 1;

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        Blob prob = bottom[0], labels = bottom[1];
        if (prob.NumAxes == 0 || labels.NumAxes == 0 || prob.Dim(0) != labels.Dim(0) || labels.Count != prob.Dim(0))
            throw Error($"the probabilities \"{prob.Name}\" {prob.ShapeString} need one label per item (first dimension); the labels \"{labels.Name}\" are {labels.ShapeString}");
        top[0].Reshape([]);
    }

    private int Label(Blob labels, int i, int dim)
    {
        float v = labels.Data[i];
        int label = (int)v;
        if (label < 0 || label >= dim)
            throw Error($"label {Log.Num(v)} at index {i} of \"{labels.Name}\" is outside the {dim} classes [0, {dim})");
        return label;
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        Blob prob = bottom[0];
        int n = prob.Dim(0), dim = (int)(prob.Count / n);
        var p = prob.Data;
        double loss = 0;
        for (int i = 0; i < n; i++)
            loss -= Math.Log(Math.Max(p[i * dim + Label(bottom[1], i, dim)], LogThreshold));
        top[0].Data[0] = (float)(loss / n);
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (propagateDown.Count > 1 && propagateDown[1])
            throw Error($"cannot back-propagate to the labels \"{bottom[1].Name}\" (bottom 1)");
        if (!propagateDown[0]) return;
        Blob prob = bottom[0];
        int n = prob.Dim(0), dim = (int)(prob.Count / n);
        float scale = -top[0].Diff[0] / n;
        var p = prob.Data;
        var diff = prob.Diff;
        diff.Clear();
        for (int i = 0; i < n; i++)
        {
            int at = i * dim + Label(bottom[1], i, dim);
            diff[at] = scale / Math.Max(p[at], LogThreshold);
        }
    }

    // ---- device code: per-item log loss, one reduction over N; the log gradient -------------

    private readonly LossScratch _scratch = new();

    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        Blob prob = bottom[0];
        int n = prob.Dim(0), dim = (int)(prob.Count / n);
        BufferView losses = _scratch.Losses(backend, n), counts = _scratch.Counts(backend, n);
        backend.NllForward(n, dim, 1, prob.DataOn(backend), bottom[1].DataOn(backend), null, LogThreshold, LossWeighting.None, losses, counts);
        backend.LossReduce(losses, null, n, top[0].MutableDataOn(backend), _scratch.Normalizer(backend));
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (propagateDown.Count > 1 && propagateDown[1])
            throw Error($"cannot back-propagate to the labels \"{bottom[1].Name}\" (bottom 1)");
        if (!propagateDown[0]) return;
        Blob prob = bottom[0];
        int n = prob.Dim(0), dim = (int)(prob.Count / n);
        backend.NllBackward(n, dim, 1, prob.DataOn(backend), bottom[1].DataOn(backend), null, LogThreshold, LossWeighting.None,
            top[0].DiffOn(backend), _scratch.Normalizer(backend), prob.MutableDiffOn(backend));
    }
}
