using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// 2-D convolution (Caffe's "Convolution"): bottoms N×C×H×W, weights (num_output, C/group, kH, kW),
/// bias (num_output). Each image is unrolled by im2col and multiplied by each group's weights with
/// one GEMM; 1×1 kernels with stride 1 and no padding use the image directly. Several bottom/top
/// pairs of one shape share the weights. Out = floor((in + 2p − (d(k−1)+1)) / s) + 1. The work is
/// done by <see cref="BaseConvolutionLayer"/>.
/// </summary>
[LayerType("Convolution")]
public sealed class ConvolutionLayer : BaseConvolutionLayer
{
    public ConvolutionLayer(LayerParameter param) : base(param) { }

    private protected override bool Reverse => false;

    private protected override (int h, int w) OutputSize(int height, int width) => (Geo.OutputH(height), Geo.OutputW(width));
}
