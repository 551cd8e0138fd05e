using Engine.Backends;
using Engine.Core;
using PoolMethod = Engine.Proto.PoolingParameter.Types.PoolMethod;

namespace Engine.Layers;

/// <summary>PoolingLayer's device code: MAX and AVE of 4-D blobs through <see cref="IBackend"/>.</summary>
public sealed partial class PoolingLayer
{
    // ---- device ----------------------------------------------------------------------------

    // The max positions on the device (flat indices as floats), kept for backward.
    private readonly DeviceBuffer _deviceMask = new();

    /// <summary>MAX and AVE pooling of 4-D blobs run on a device; STOCHASTIC pooling (host random
    /// draws per window) and the N-D path (other than 2 spatial axes, average_exclude_padding)
    /// stay on the host.</summary>
    public override bool RunsOnDevice => !_nd && _method != PoolMethod.Stochastic;

    private PoolWindow DeviceWindow => new(_height, _width, _outH, _outW, _geo.KernelH, _geo.KernelW,
        _geo.StrideH, _geo.StrideW, _geo.PadH, _geo.PadW);

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        int planes = _num * _channels;
        if (planes == 0) return;
        var x = bottom[0].DataOn(backend);
        var y = top[0].MutableDataOn(backend);
        if (_method == PoolMethod.Ave)
        {
            backend.PoolForward(PoolKind.Average, DeviceWindow, planes, x, y);
            return;
        }
        var mask = _deviceMask.On(backend, (int)top[0].Count);
        backend.PoolForward(PoolKind.Max, DeviceWindow, planes, x, y, mask);
        if (top.Count > 1) backend.Copy(mask, top[1].MutableDataOn(backend));
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        int planes = _num * _channels;
        if (planes == 0) return;
        bool max = _method == PoolMethod.Max;
        backend.PoolBackward(max ? PoolKind.Max : PoolKind.Average, DeviceWindow, planes, top[0].DiffOn(backend),
            max ? _deviceMask.On(backend, (int)top[0].Count) : (BufferView?)null, bottom[0].MutableDiffOn(backend));
    }
}
