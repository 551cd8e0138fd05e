using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Gathers items along axis 0: top[k] = bottom 0[index[k]], where bottom 1 holds the K indices
/// (1-D, integers in [0, N)). Items may repeat or be left out. Backward sums each top item's
/// gradient into the item it came from (zero for items not gathered); the indices get none.
/// </summary>
[LayerType("BatchReindex")]
public sealed class BatchReindexLayer : Layer
{
    public BatchReindexLayer(LayerParameter param) : base(param) { }

    public override int ExactBottoms => 2;
    public override int ExactTops => 1;

    public override bool CanBackward(int bottomIndex) => bottomIndex == 0;

    public override bool AllowForceBackward(int bottomIndex) => bottomIndex == 0;

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        Blob data = bottom[0], index = bottom[1];
        if (ReferenceEquals(top[0], data) || ReferenceEquals(top[0], index)) throw Error($"top \"{top[0].Name}\" is also a bottom; BatchReindex does not work in place");
        if (index.NumAxes != 1) throw Error($"the indices \"{index.Name}\" {index.ShapeString} must be 1-D");
        if (data.NumAxes < 1) throw Error($"bottom \"{data.Name}\" {data.ShapeString} needs an item axis");
        var shape = data.Shape.ToArray();
        shape[0] = index.Dim(0);
        top[0].Reshape(shape);
    }

    private int Index(ReadOnlySpan<float> idx, int k, Blob data, Blob index)
    {
        float v = idx[k];
        if (!(v >= 0 && v < data.Dim(0)) || v != MathF.Floor(v))
            throw Error($"index {v} at position {k} of \"{index.Name}\" is not an integer in [0, {data.Dim(0)}) for bottom \"{data.Name}\" {data.ShapeString}");
        return (int)v;
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        Blob data = bottom[0], index = bottom[1];
        int inner = (int)data.CountFrom(1);
        ReadOnlySpan<float> x = data.Data, idx = index.Data;
        Span<float> y = top[0].Data;
        for (int k = 0; k < idx.Length; k++)
            x.Slice(Index(idx, k, data, index) * inner, inner).CopyTo(y.Slice(k * inner, inner));
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (propagateDown[1]) throw Error($"cannot back-propagate to the indices \"{bottom[1].Name}\"");
        if (!propagateDown[0]) return;
        Blob data = bottom[0], index = bottom[1];
        int inner = (int)data.CountFrom(1);
        ReadOnlySpan<float> idx = index.Data, dy = top[0].Diff;
        Span<float> dx = data.Diff;
        dx.Clear();
        for (int k = 0; k < idx.Length; k++)
        {
            var row = dx.Slice(Index(idx, k, data, index) * inner, inner);
            System.Numerics.Tensors.TensorPrimitives.Add(row, dy.Slice(k * inner, inner), row);
        }
    }

    // The indices are read on the device (GatherRows / ScatterAddRows), so they are not checked
    // there: an index that is not an integer in [0, N) gives a NaN row forward and is skipped
    // backward, where the host code throws.
    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        Blob data = bottom[0], index = bottom[1];
        backend.GatherRows(data.Dim(0), (int)data.CountFrom(1), data.DataOn(backend), index.DataOn(backend), top[0].MutableDataOn(backend));
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (propagateDown[1]) throw Error($"cannot back-propagate to the indices \"{bottom[1].Name}\"");
        if (!propagateDown[0]) return;
        Blob data = bottom[0], index = bottom[1];
        backend.ScatterAddRows(data.Dim(0), (int)data.CountFrom(1), index.DataOn(backend), top[0].DiffOn(backend),
            data.MutableDiffOn(backend), accumulate: false);
    }
}
