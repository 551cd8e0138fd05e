using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Transposed convolution (Caffe's "Deconvolution"), 2-D or N-D as Convolution, the adjoint of Convolution with the same
/// convolution_param: out = s(in − 1) + d(k − 1) + 1 − 2p per axis. Weights (C_in, num_output/group,
/// k1, …, kn), bias (num_output). Its forward is a convolution's data backward (Wᵀ·x, then col2im) and
/// its data backward a convolution's forward; see <see cref="BaseConvolutionLayer"/>.
/// </summary>
[LayerType("Deconvolution")]
public sealed class DeconvolutionLayer : BaseConvolutionLayer
{
    public DeconvolutionLayer(LayerParameter param) : base(param) { }

    private protected override bool Reverse => true;

    private protected override int OutputExtent(int input, int kernel, int stride, int pad, int dilation) =>
        Size(input, kernel, stride, pad, dilation);

    private static int Size(int input, int kernel, int stride, int pad, int dilation)
    {
        long size = (long)stride * (input - 1) + (long)dilation * (kernel - 1) + 1 - 2L * pad;
        return size <= 0 || size > int.MaxValue ? 0 : (int)size;
    }
}
