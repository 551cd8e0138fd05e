using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Classification accuracy, as Caffe: bottom 0 = scores (outer × C × inner along
/// accuracy_param.axis), bottom 1 = labels. A position counts as a hit when fewer than top_k
/// classes score strictly higher than the label's class (so ties favour the label). top 0 =
/// hits / non-ignored positions (0 when none); an optional top 1 holds the accuracy per class (C
/// values, 0 for classes absent from the labels). Positions labelled ignore_label are skipped.
/// No gradient.
/// </summary>
[LayerType("Accuracy")]
public sealed class AccuracyLayer : Layer
{
    private int _topK, _outer, _channels, _inner;
    private bool _hasIgnore;
    private int _ignore;
    // Per class: how many non-ignored positions carry that label.
    private float[] _perClassCount = [];

    public AccuracyLayer(LayerParameter param) : base(param) { }

    public override int ExactBottoms => 2;
    public override int MinTops => 1;
    public override int MaxTops => 2;
    public override bool AllowForceBackward(int bottomIndex) => false;
    public override bool CanBackward(int bottomIndex) => false;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = Param.AccuracyParam;
        _topK = checked((int)(p?.TopK ?? 1));
        if (_topK < 1) throw Error($"accuracy_param.top_k must be at least 1, got {_topK}");
        _hasIgnore = p?.HasIgnoreLabel ?? false;
        _ignore = p?.IgnoreLabel ?? 0;
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        Blob scores = bottom[0], labels = bottom[1];
        int axis = Param.AccuracyParam?.Axis ?? 1;
        if (axis < -scores.NumAxes || axis >= scores.NumAxes)
            throw Error($"accuracy_param.axis {axis} is out of range for the {scores.NumAxes}-D bottom \"{scores.Name}\" {scores.ShapeString}");
        if (axis < 0) axis += scores.NumAxes;
        _outer = (int)scores.CountRange(0, axis);
        _channels = scores.Dim(axis);
        _inner = (int)scores.CountFrom(axis + 1);
        if (_topK > _channels)
            throw Error($"top_k {_topK} exceeds the {_channels} classes of \"{scores.Name}\" {scores.ShapeString}");
        if ((long)_outer * _inner != labels.Count)
            throw Error($"{labels.Count} labels in \"{labels.Name}\" {labels.ShapeString} for {(long)_outer * _inner} predictions in \"{scores.Name}\" {scores.ShapeString} (class axis {axis})");
        top[0].Reshape([]);
        if (top.Count > 1) top[1].Reshape([_channels]);
        if (_perClassCount.Length < _channels) _perClassCount = new float[_channels];
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        ReadOnlySpan<float> scores = bottom[0].Data, labels = bottom[1].Data;
        bool perClass = top.Count > 1;
        Span<float> classHits = perClass ? top[1].Data : [];
        var classCount = _perClassCount.AsSpan(0, _channels);
        if (perClass) { classHits.Clear(); classCount.Clear(); }
        int dim = _channels * _inner, hits = 0, count = 0;
        for (int i = 0; i < _outer; i++)
            for (int j = 0; j < _inner; j++)
            {
                int k = i * _inner + j;
                int label = Label(labels, k, bottom[1].Name);
                if (label < 0) continue;
                if (perClass) classCount[label]++;
                int at = i * dim + j;
                float truth = scores[at + label * _inner];
                int better = 0;
                for (int c = 0; c < _channels && better < _topK; c++)
                    if (scores[at + c * _inner] > truth) better++;
                if (better < _topK)
                {
                    hits++;
                    if (perClass) classHits[label]++;
                }
                count++;
            }
        top[0].Data[0] = count == 0 ? 0f : (float)hits / count;
        if (perClass)
            for (int c = 0; c < _channels; c++) classHits[c] = classCount[c] == 0 ? 0f : classHits[c] / classCount[c];
    }

    // ---- device code: per-position hits and counts, one reduction, per-class sums ----------

    private readonly LossScratch _scratch = new();

    public override bool RunsOnDevice => true;

    /// <summary>Label k as an integer, −1 when it is the ignore_label; an error outside [0, C).</summary>
    private int Label(ReadOnlySpan<float> labels, int k, string name)
    {
        float value = labels[k];
        int label = (int)value;
        if (_hasIgnore && label == _ignore) return -1;
        if (label < 0 || label >= _channels)
            throw Error($"label {Log.Num(value)} at index {k} of \"{name}\" is outside the {_channels} classes [0, {_channels})");
        return label;
    }

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        // Labels the host still holds (a data layer's batch) are checked there, as the host code does.
        if (bottom[1].DataMemory.HostIfCurrent is { } host)
            for (int k = 0; k < _outer * _inner; k++) Label(host, k, bottom[1].Name);
        int positions = _outer * _inner;
        BufferView hits = _scratch.Losses(backend, positions), counts = _scratch.Counts(backend, positions);
        var labels = bottom[1].DataOn(backend);
        backend.AccuracyForward(_outer, _channels, _inner, _topK, bottom[0].DataOn(backend), labels, _hasIgnore ? _ignore : null, hits, counts);
        // hits / max(1, count) is the host's "0 when nothing counts".
        backend.LossReduce(hits, counts, 0f, top[0].MutableDataOn(backend), _scratch.Normalizer(backend));
        if (top.Count > 1) backend.AccuracyPerClass(_channels, labels, hits, counts, top[1].MutableDataOn(backend));
    }
}
