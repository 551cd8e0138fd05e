using Engine.Backends;
using Engine.Core;
using Engine.Cpu;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Caffe's "Im2col": exposes im2col as a layer. Reads the window (kernel, stride, pad, dilation)
/// from convolution_param as Convolution does (num_output is not used), over any number of
/// spatial axes: those after the channel axis (convolution_param.axis, default 1); the axes
/// before it count images. The top keeps the bottom's leading axes, has C·k1·…·kn channels and
/// the convolution's output extents; channel (c·k1 + j1)·k2 + j2 … holds the input under that
/// kernel offset. Two spatial axes use the 2-D kernel unless force_nd_im2col; others the N-D
/// one. Backward is col2im.
/// </summary>
[LayerType("Im2col")]
public sealed class Im2colLayer(LayerParameter param) : Layer(param)
{
    private NdGeometry _nd = null!;
    private ConvGeometry _geo;
    private bool _useNd;
    private int _axis, _spatialAxes, _num, _channels, _inSize, _outSize;
    private int[] _image = [];

    public override int ExactBottoms => 1;
    public override int ExactTops => 1;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = Param.ConvolutionParam ?? throw Error("convolution_param with a kernel size is required");
        var b = bottom[0];
        _axis = p.Axis < 0 ? p.Axis + b.NumAxes : p.Axis;
        if (_axis < 0 || _axis >= b.NumAxes) throw Error($"axis {p.Axis} is out of range for bottom \"{b.Name}\" {b.ShapeString}");
        _spatialAxes = b.NumAxes - _axis - 1;
        if (_spatialAxes < 1) throw Error($"bottom \"{b.Name}\" {b.ShapeString} has no spatial axis after the channel axis {_axis}");
        _nd = NdGeometry.FromConvolution(p, _spatialAxes, Error);
        _useNd = _spatialAxes != 2 || p.ForceNdIm2Col;
        if (!_useNd) _geo = ConvGeometry.FromConvolution(p, Error);
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var b = bottom[0];
        if (b.NumAxes != _axis + 1 + _spatialAxes)
            throw Error($"bottom \"{b.Name}\" is {b.ShapeString}, but the layer was set up for {_spatialAxes} spatial axes after channel axis {_axis}");
        _num = checked((int)b.CountRange(0, _axis));
        _channels = b.Dim(_axis);
        var inSpatial = new int[_spatialAxes];
        var outSpatial = new int[_spatialAxes];
        for (int d = 0; d < _spatialAxes; d++)
        {
            inSpatial[d] = b.Dim(_axis + 1 + d);
            outSpatial[d] = ConvGeometry.ConvOutput(inSpatial[d], _nd.Kernel[d], _nd.Stride[d], _nd.Pad[d], _nd.Dilation[d]);
        }
        if (outSpatial.Any(o => o <= 0))
            throw Error($"{_nd} does not fit the input {NdGeometry.Join(inSpatial)} (padded " +
                        $"{NdGeometry.Join(inSpatial.Select((v, d) => v + 2 * _nd.Pad[d]))}, kernel extent " +
                        $"{NdGeometry.Join(_nd.Kernel.Select((k, d) => _nd.Dilation[d] * (k - 1) + 1))})");
        var shape = new int[b.NumAxes];
        for (int a = 0; a < _axis; a++) shape[a] = b.Dim(a);
        shape[_axis] = checked(_channels * _nd.Kernel.Aggregate(1, (x, k) => checked(x * k)));
        outSpatial.CopyTo(shape, _axis + 1);
        top[0].Reshape(shape);
        _image = [_channels, .. inSpatial];
        _inSize = checked(_channels * inSpatial.Aggregate(1, (x, v) => checked(x * v)));
        _outSize = checked(shape[_axis] * outSpatial.Aggregate(1, (x, v) => checked(x * v)));
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        for (int n = 0; n < _num; n++)
        {
            var image = bottom[0].Data.Slice(n * _inSize, _inSize);
            var columns = top[0].Data.Slice(n * _outSize, _outSize);
            if (_useNd) Im2Col.ForwardNd(image, _image, _nd.Kernel, _nd.Pad, _nd.Stride, _nd.Dilation, columns);
            else
                Im2Col.Forward(image, _channels, _image[1], _image[2], _geo.KernelH, _geo.KernelW,
                    _geo.PadH, _geo.PadW, _geo.StrideH, _geo.StrideW, _geo.DilationH, _geo.DilationW, columns);
        }
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        for (int n = 0; n < _num; n++)
        {
            var columns = top[0].Diff.Slice(n * _outSize, _outSize);
            var image = bottom[0].Diff.Slice(n * _inSize, _inSize);
            if (_useNd) Im2Col.BackwardNd(columns, _image, _nd.Kernel, _nd.Pad, _nd.Stride, _nd.Dilation, image);
            else
                Im2Col.Backward(columns, _channels, _image[1], _image[2], _geo.KernelH, _geo.KernelW,
                    _geo.PadH, _geo.PadW, _geo.StrideH, _geo.StrideW, _geo.DilationH, _geo.DilationW, image);
        }
    }

    // ---- device: one Im2Col / Col2Im per image; the N-D window stays on the host --------------

    public override bool RunsOnDevice => !_useNd;

    private ConvWindow Window => new(Channels: _channels, Height: _image[1], Width: _image[2], KernelH: _geo.KernelH, KernelW: _geo.KernelW,
        PadH: _geo.PadH, PadW: _geo.PadW, StrideH: _geo.StrideH, StrideW: _geo.StrideW, DilationH: _geo.DilationH, DilationW: _geo.DilationW);

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        if (_num == 0) return;
        var window = Window;
        var input = bottom[0].DataOn(backend);
        var output = top[0].MutableDataOn(backend);
        for (int n = 0; n < _num; n++)
            backend.Im2Col(window, input.Slice(n * _inSize, _inSize), output.Slice(n * _outSize, _outSize));
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0] || _num == 0) return;
        var window = Window;
        var columns = top[0].DiffOn(backend);
        var image = bottom[0].MutableDiffOn(backend);
        for (int n = 0; n < _num; n++)
            backend.Col2Im(window, columns.Slice(n * _outSize, _outSize), image.Slice(n * _inSize, _inSize));
    }
}
