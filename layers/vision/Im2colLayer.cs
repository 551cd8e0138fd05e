using Engine.Core;
using Engine.Cpu;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Caffe's "Im2col": exposes im2col as a layer. Reads the window (kernel, stride, pad, dilation)
/// from convolution_param (num_output is not used); top is N × (C·kH·kW) × outH × outW with the
/// convolution's output size, channel (c·kH + kh)·kW + kw holding the input under that kernel
/// offset. Backward is col2im.
/// </summary>
[LayerType("Im2col")]
public sealed class Im2colLayer : Layer
{
    private ConvGeometry _geo;
    private int _num, _channels, _height, _width, _outH, _outW;

    public Im2colLayer(LayerParameter param) : base(param) { }

    public override int ExactBottoms => 1;
    public override int ExactTops => 1;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = Param.ConvolutionParam ?? throw Error("convolution_param with a kernel size is required");
        int axis = p.Axis < 0 ? p.Axis + bottom[0].NumAxes : p.Axis;
        if (axis != 1) throw Error($"axis {p.Axis} is not supported; channels must be axis 1 (N×C×H×W)");
        _geo = ConvGeometry.FromConvolution(p, Error);
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var b = bottom[0];
        if (b.NumAxes != 4) throw Error($"bottom \"{b.Name}\" is {b.NumAxes}-D {b.ShapeString}; Im2col takes 4-D N×C×H×W blobs");
        _num = b.Dim(0);
        _channels = b.Dim(1);
        _height = b.Dim(2);
        _width = b.Dim(3);
        _outH = _geo.OutputH(_height);
        _outW = _geo.OutputW(_width);
        if (_outH <= 0 || _outW <= 0) throw Error($"{_geo} does not fit the input {_height}×{_width}");
        top[0].Reshape(_num, checked(_channels * _geo.KernelH * _geo.KernelW), _outH, _outW);
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        int inSize = _channels * _height * _width, outSize = _channels * _geo.KernelH * _geo.KernelW * _outH * _outW;
        for (int n = 0; n < _num; n++)
            Im2Col.Forward(bottom[0].Data.Slice(n * inSize, inSize), _channels, _height, _width, _geo.KernelH, _geo.KernelW,
                _geo.PadH, _geo.PadW, _geo.StrideH, _geo.StrideW, _geo.DilationH, _geo.DilationW, top[0].Data.Slice(n * outSize, outSize));
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        int inSize = _channels * _height * _width, outSize = _channels * _geo.KernelH * _geo.KernelW * _outH * _outW;
        for (int n = 0; n < _num; n++)
            Im2Col.Backward(top[0].Diff.Slice(n * outSize, outSize), _channels, _height, _width, _geo.KernelH, _geo.KernelW,
                _geo.PadH, _geo.PadW, _geo.StrideH, _geo.StrideW, _geo.DilationH, _geo.DilationW, bottom[0].Diff.Slice(n * inSize, inSize));
    }
}
