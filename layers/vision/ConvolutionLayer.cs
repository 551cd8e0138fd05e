using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Convolution (Caffe's "Convolution"): bottoms N×C×H×W, or any number of spatial axes (≥ 1)
/// after the channel axis (convolution_param.axis, default 1); weights (num_output, C/group, k1, …, kn),
/// bias (num_output). Two spatial axes use the 2-D im2col; any other count (or force_nd_im2col)
/// the N-D one. Each image is unrolled by im2col and multiplied by each group's weights with
/// one GEMM; 1×1 kernels with stride 1 and no padding use the image directly. Several bottom/top
/// pairs of one shape share the weights. Out = floor((in + 2p − (d(k−1)+1)) / s) + 1. The work is
/// done by <see cref="BaseConvolutionLayer"/>.
/// </summary>
[LayerType("Convolution")]
public sealed class ConvolutionLayer : BaseConvolutionLayer
{
    public ConvolutionLayer(LayerParameter param) : base(param) { }

    private protected override bool Reverse => false;

    private protected override int OutputExtent(int input, int kernel, int stride, int pad, int dilation) =>
        ConvGeometry.ConvOutput(input, kernel, stride, pad, dilation);
}
