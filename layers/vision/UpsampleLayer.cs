using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// "Upsample" (an extension, upsample_param): N×C×H×W → N×C×(H·scale)×(W·scale) for decoder nets.
/// One bottom: nearest-neighbour, each value copied into its scale×scale block; the gradient sums
/// the block. Two bottoms: unpooling, bottom[1] being a MAX Pooling mask of bottom[0]'s shape
/// (flat index h·W' + w into the H·scale × W·scale plane); each value goes to its mask position,
/// everything else is 0, and the gradient is read back from there (none for the mask).
/// </summary>
[LayerType("Upsample")]
public sealed class UpsampleLayer : Layer
{
    private int _scale, _planes, _height, _width;

    public UpsampleLayer(LayerParameter param) : base(param) { }

    public override int MinBottoms => 1;
    public override int MaxBottoms => 2;
    public override int ExactTops => 1;

    public override bool CanBackward(int bottomIndex) => bottomIndex == 0;

    public override bool AllowForceBackward(int bottomIndex) => bottomIndex == 0;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = Param.UpsampleParam ?? new UpsampleParameter();
        if (p.Scale == 0 || p.Scale > 1 << 12) throw Error($"scale must be a positive integer, got {p.Scale}");
        _scale = (int)p.Scale;
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var b = bottom[0];
        if (b.NumAxes != 4) throw Error($"bottom \"{b.Name}\" is {b.NumAxes}-D {b.ShapeString}; Upsample takes 4-D N×C×H×W blobs");
        if (bottom.Count > 1 && !bottom[1].ShapeEquals(b))
            throw Error($"the mask \"{bottom[1].Name}\" {bottom[1].ShapeString} must have the shape of \"{b.Name}\" {b.ShapeString}");
        if (top[0] == b) throw Error("cannot run in place");
        _planes = b.Dim(0) * b.Dim(1);
        _height = b.Dim(2);
        _width = b.Dim(3);
        top[0].Reshape(b.Dim(0), b.Dim(1), checked(_height * _scale), checked(_width * _scale));
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        ReadOnlySpan<float> x = bottom[0].Data;
        var y = top[0].Data;
        int inPlane = _height * _width, outW = _width * _scale, outPlane = inPlane * _scale * _scale;
        if (bottom.Count > 1)
        {
            ReadOnlySpan<float> mask = bottom[1].Data;
            y.Clear();
            for (int pl = 0; pl < _planes; pl++)
                for (int i = 0; i < inPlane; i++)
                {
                    int q = pl * inPlane + i;
                    y[pl * outPlane + MaskIndex(mask[q], outPlane)] = x[q];
                }
            return;
        }
        for (int pl = 0; pl < _planes; pl++)
            for (int oh = 0; oh < _height * _scale; oh++)
            {
                var src = x.Slice(pl * inPlane + oh / _scale * _width, _width);
                var dst = y.Slice(pl * outPlane + oh * outW, outW);
                for (int ow = 0; ow < outW; ow++) dst[ow] = src[ow / _scale];
            }
    }

    // ---- device ----------------------------------------------------------------------------

    /// <summary>Both modes run on a device. There, a mask value that is not a position of the
    /// output plane is skipped (nothing is written; its gradient is 0) instead of raising the host's error.</summary>
    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var x = bottom[0].DataOn(backend);
        var y = top[0].MutableDataOn(backend);
        if (bottom.Count > 1)
        {
            int inPlane = _height * _width;
            backend.UnpoolForward(_planes, inPlane, inPlane * _scale * _scale, x, bottom[1].DataOn(backend), y,
                DeviceScratch.For(backend).Scratch((int)top[0].Count)); // which input wins each position; transient
            return;
        }
        backend.UpsampleForward(_planes, _height, _width, _scale, x, y);
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        var dy = top[0].DiffOn(backend);
        var dx = bottom[0].MutableDiffOn(backend);
        if (bottom.Count > 1)
        {
            int inPlane = _height * _width;
            backend.UnpoolBackward(_planes, inPlane, inPlane * _scale * _scale, dy, bottom[1].DataOn(backend), dx);
            return;
        }
        backend.UpsampleBackward(_planes, _height, _width, _scale, dy, dx);
    }

    private int MaskIndex(float m, int outPlane)
    {
        int idx = (int)m;
        if (!(m >= 0 && m < outPlane) || idx != m)
            throw Error($"mask value {m} is not a position in the {_height * _scale}×{_width * _scale} output");
        return idx;
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        ReadOnlySpan<float> dy = top[0].Diff;
        var dx = bottom[0].Diff;
        int inPlane = _height * _width, outW = _width * _scale, outPlane = inPlane * _scale * _scale;
        if (bottom.Count > 1)
        {
            ReadOnlySpan<float> mask = bottom[1].Data;
            for (int pl = 0; pl < _planes; pl++)
                for (int i = 0; i < inPlane; i++)
                {
                    int q = pl * inPlane + i;
                    dx[q] = dy[pl * outPlane + MaskIndex(mask[q], outPlane)];
                }
            return;
        }
        dx.Clear();
        for (int pl = 0; pl < _planes; pl++)
            for (int oh = 0; oh < _height * _scale; oh++)
            {
                var dst = dx.Slice(pl * inPlane + oh / _scale * _width, _width);
                var src = dy.Slice(pl * outPlane + oh * outW, outW);
                for (int ow = 0; ow < outW; ow++) dst[ow / _scale] += src[ow];
            }
    }
}
