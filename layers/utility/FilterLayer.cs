using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Keeps the items (along axis 0) whose selector is non-zero. Bottoms: K data blobs and, last,
/// the selector (N values, any trailing axes of size 1); tops: the K filtered blobs, in order.
/// The number of kept items depends on the selector's values, so the tops are resized in forward
/// as well as in reshape (layers after this one see the new size only when the net reshapes).
/// Backward copies the kept items' gradients back and zeroes the others; the selector gets none.
/// </summary>
[LayerType("Filter")]
public sealed class FilterLayer : Layer
{
    private int[] _kept = [];
    private int _count;
    private bool _keptOnDevice;

    public FilterLayer(LayerParameter param) : base(param) { }

    public override int MinBottoms => 2;
    public override int MinTops => 1;

    // The selector is the last bottom named in the layer's parameters.
    public override bool CanBackward(int bottomIndex) => Param.Bottom.Count == 0 || bottomIndex < Param.Bottom.Count - 1;

    public override bool AllowForceBackward(int bottomIndex) => CanBackward(bottomIndex);

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        if (top.Count != bottom.Count - 1)
            throw Error($"takes the data blobs and a selector, and gives one top per data blob: got {bottom.Count} bottoms and {top.Count} tops");
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var selector = bottom[^1];
        if (selector.NumAxes < 1) throw Error($"selector \"{selector.Name}\" {selector.ShapeString} needs an item axis");
        for (int i = 1; i < selector.NumAxes; i++)
            if (selector.Dim(i) != 1) throw Error($"selector \"{selector.Name}\" {selector.ShapeString} must hold one value per item (trailing axes of size 1)");
        int n = selector.Dim(0);
        for (int i = 0; i < top.Count; i++)
        {
            if (bottom[i].NumAxes < 1 || bottom[i].Dim(0) != n)
                throw Error($"bottom {i} \"{bottom[i].Name}\" {bottom[i].ShapeString} does not have the {n} items of the selector \"{selector.Name}\" {selector.ShapeString}");
            for (int j = 0; j < bottom.Count; j++)
                if (ReferenceEquals(top[i], bottom[j])) throw Error($"top \"{top[i].Name}\" is also a bottom; Filter does not work in place");
        }
        if (_kept.Length < n) _kept = new int[n];
        // Size the tops for every item first, so that later forwards never grow them.
        for (int i = 0; i < top.Count; i++) top[i].ReshapeLike(bottom[i]);
        Select(bottom, top);
    }

    private void Select(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        // Read-only access: on a device net the selector's device copy stays current.
        ReadOnlySpan<float> s = bottom[^1].ConstData;
        _count = 0;
        _keptOnDevice = false;
        for (int i = 0; i < s.Length; i++) if (s[i] != 0) _kept[_count++] = i;
        for (int i = 0; i < top.Count; i++)
        {
            var shape = bottom[i].Shape;
            if (top[i].Dim(0) == _count && top[i].NumAxes == shape.Count) continue;
            var next = new int[shape.Count];
            for (int a = 1; a < next.Length; a++) next[a] = shape[a];
            next[0] = _count;
            top[i].Reshape(next);
        }
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        Select(bottom, top);
        for (int i = 0; i < top.Count; i++)
        {
            int inner = (int)bottom[i].CountFrom(1);
            ReadOnlySpan<float> x = bottom[i].Data;
            Span<float> y = top[i].Data;
            for (int k = 0; k < _count; k++) x.Slice(_kept[k] * inner, inner).CopyTo(y.Slice(k * inner, inner));
        }
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (propagateDown[^1]) throw Error($"cannot back-propagate to the selector \"{bottom[^1].Name}\"");
        for (int i = 0; i < top.Count; i++)
        {
            if (!propagateDown[i]) continue;
            int inner = (int)bottom[i].CountFrom(1);
            Span<float> dx = bottom[i].Diff;
            ReadOnlySpan<float> dy = top[i].Diff;
            dx.Clear();
            for (int k = 0; k < _count; k++) dy.Slice(k * inner, inner).CopyTo(dx.Slice(_kept[k] * inner, inner));
        }
    }

    // The selection depends on the selector's values, so it is made on the host, as in Caffe: the
    // selector is read there (a small download when it lives on the device), the kept item
    // numbers are uploaded, and the items are gathered and scattered back on the device.
    private readonly DeviceBuffer _deviceKept = new();

    public override bool RunsOnDevice => true;

    private BufferView Kept(IBackend backend)
    {
        var kept = _deviceKept.On(backend, _count, out bool fresh);
        if (fresh || !_keptOnDevice)
        {
            var values = new float[_count];
            for (int k = 0; k < _count; k++) values[k] = _kept[k];
            if (_count > 0) backend.Upload(values, kept);
            _keptOnDevice = true;
        }
        return kept;
    }

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        Select(bottom, top);
        var kept = Kept(backend);
        for (int i = 0; i < top.Count; i++)
            backend.GatherRows(bottom[i].Dim(0), (int)bottom[i].CountFrom(1), bottom[i].DataOn(backend), kept, top[i].MutableDataOn(backend));
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (propagateDown[^1]) throw Error($"cannot back-propagate to the selector \"{bottom[^1].Name}\"");
        var kept = Kept(backend);
        for (int i = 0; i < top.Count; i++)
        {
            if (!propagateDown[i]) continue;
            backend.ScatterAddRows(bottom[i].Dim(0), (int)bottom[i].CountFrom(1), kept, top[i].DiffOn(backend),
                bottom[i].MutableDiffOn(backend), accumulate: false);
        }
    }
}
