using System.Numerics.Tensors;
using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Repeats the bottom tile_param.tiles times along tile_param.axis (default 1): for each index of
/// the axes before `axis`, the block from `axis` on is written `tiles` times in a row.
/// Backward sums the copies' gradients.
/// </summary>
[LayerType("Tile")]
public sealed class TileLayer : Layer
{
    private int _axis, _tiles, _outer, _inner;

    public TileLayer(LayerParameter param) : base(param) { }

    public override int ExactBottoms => 1;
    public override int ExactTops => 1;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = Param.TileParam;
        if (p == null || !p.HasTiles) throw Error("tile_param.tiles is required");
        if (p.Tiles < 1) throw Error($"tile_param.tiles must be positive, got {p.Tiles}");
        _tiles = p.Tiles;
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var b = bottom[0];
        if (ReferenceEquals(top[0], b)) throw Error($"top \"{top[0].Name}\" is the bottom itself; Tile does not work in place");
        int axis = Param.TileParam.Axis;
        if (axis < -b.NumAxes || axis >= b.NumAxes)
            throw Error($"tile_param.axis {axis} is out of range for the {b.NumAxes}-D bottom \"{b.Name}\" {b.ShapeString}");
        _axis = axis < 0 ? axis + b.NumAxes : axis;
        var shape = b.Shape.ToArray();
        shape[_axis] = checked(shape[_axis] * _tiles);
        top[0].Reshape(shape);
        _outer = (int)b.CountRange(0, _axis);
        _inner = (int)b.CountFrom(_axis);
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        ReadOnlySpan<float> x = bottom[0].Data;
        Span<float> y = top[0].Data;
        for (int n = 0; n < _outer; n++)
        {
            var block = x.Slice(n * _inner, _inner);
            for (int t = 0; t < _tiles; t++) block.CopyTo(y.Slice((n * _tiles + t) * _inner, _inner));
        }
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        ReadOnlySpan<float> dy = top[0].Diff;
        Span<float> dx = bottom[0].Diff;
        for (int n = 0; n < _outer; n++)
        {
            var block = dx.Slice(n * _inner, _inner);
            dy.Slice(n * _tiles * _inner, _inner).CopyTo(block);
            for (int t = 1; t < _tiles; t++) TensorPrimitives.Add(block, dy.Slice((n * _tiles + t) * _inner, _inner), block);
        }
    }

    // Forward: one block copy whose source row stride is 0 (each outer block repeated `tiles`
    // times). Backward: the first copy's gradient, then the others added in order, as the host.
    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) =>
        backend.CopyBlocks(_outer, _tiles, _inner, bottom[0].DataOn(backend), _inner, 0,
            top[0].MutableDataOn(backend), _tiles * _inner, _inner);

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        var dy = top[0].DiffOn(backend);
        var dx = bottom[0].MutableDiffOn(backend);
        if (dy.Count == 0) return;
        for (int t = 0; t < _tiles; t++)
            backend.CopyBlocks(_outer, 1, _inner, dy.Slice(t * _inner, dy.Count - t * _inner), _tiles * _inner, 0,
                dx, _inner, 0, accumulate: t > 0);
    }
}
