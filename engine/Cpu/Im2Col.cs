namespace Engine.Cpu;

// Stub until the cpu branch lands: plain loops with the final signatures.
public static class Im2Col
{
    public static void Forward(ReadOnlySpan<float> image, int channels, int height, int width, int kernelH, int kernelW,
        int padH, int padW, int strideH, int strideW, int dilationH, int dilationW, Span<float> columns)
    {
        int outH = (height + 2 * padH - (dilationH * (kernelH - 1) + 1)) / strideH + 1;
        int outW = (width + 2 * padW - (dilationW * (kernelW - 1) + 1)) / strideW + 1;
        int row = 0;
        for (int c = 0; c < channels; c++)
            for (int kh = 0; kh < kernelH; kh++)
                for (int kw = 0; kw < kernelW; kw++, row++)
                    for (int oh = 0; oh < outH; oh++)
                        for (int ow = 0; ow < outW; ow++)
                        {
                            int h = oh * strideH - padH + kh * dilationH, w = ow * strideW - padW + kw * dilationW;
                            columns[(row * outH + oh) * outW + ow] =
                                h >= 0 && h < height && w >= 0 && w < width ? image[(c * height + h) * width + w] : 0;
                        }
    }

    public static void Backward(ReadOnlySpan<float> columns, int channels, int height, int width, int kernelH, int kernelW,
        int padH, int padW, int strideH, int strideW, int dilationH, int dilationW, Span<float> image)
    {
        int outH = (height + 2 * padH - (dilationH * (kernelH - 1) + 1)) / strideH + 1;
        int outW = (width + 2 * padW - (dilationW * (kernelW - 1) + 1)) / strideW + 1;
        image[..(channels * height * width)].Clear();
        int row = 0;
        for (int c = 0; c < channels; c++)
            for (int kh = 0; kh < kernelH; kh++)
                for (int kw = 0; kw < kernelW; kw++, row++)
                    for (int oh = 0; oh < outH; oh++)
                        for (int ow = 0; ow < outW; ow++)
                        {
                            int h = oh * strideH - padH + kh * dilationH, w = ow * strideW - padW + kw * dilationW;
                            if (h >= 0 && h < height && w >= 0 && w < width)
                                image[(c * height + h) * width + w] += columns[(row * outH + oh) * outW + ow];
                        }
    }
}
