namespace Engine.Backends;

/// <summary>The pooling group's primitives on OpenCL: kernels/pooling_backward.cl, lrn.cl, upsample.cl.</summary>
public sealed partial class OpenCLBackend
{
    public void PoolBackward(PoolKind kind, in PoolWindow w, int planes, BufferView topDiff, BufferView? mask, BufferView bottomDiff)
    {
        long inCount = (long)planes * w.Height * w.Width, outCount = (long)planes * w.OutH * w.OutW;
        SameCount(outCount, topDiff.Count, nameof(PoolBackward));
        SameCount(inCount, bottomDiff.Count, nameof(PoolBackward));
        var program = Program("pooling_backward");
        if (kind == PoolKind.Max)
        {
            var m = mask ?? throw new ArgumentException("pooling backward: max pooling needs the mask");
            SameCount(outCount, m.Count, nameof(PoolBackward));
            Launch1D(program.Kernel("max_pool_backward"), inCount, (int)inCount, Buf(topDiff), topDiff.Offset, Buf(m), m.Offset,
                w.Height, w.Width, w.OutH, w.OutW, w.KernelH, w.KernelW, w.StrideH, w.StrideW, w.PadH, w.PadW,
                Buf(bottomDiff), bottomDiff.Offset);
        }
        else
        {
            Launch1D(program.Kernel("ave_pool_backward"), inCount, (int)inCount, Buf(topDiff), topDiff.Offset,
                w.Height, w.Width, w.OutH, w.OutW, w.KernelH, w.KernelW, w.StrideH, w.StrideW, w.PadH, w.PadW,
                Buf(bottomDiff), bottomDiff.Offset);
        }
    }

    public void LrnForward(in LrnShape s, BufferView x, BufferView scale, BufferView y)
    {
        SameCount(s.Count, Same(x, scale), nameof(LrnForward));
        SameCount(s.Count, y.Count, nameof(LrnForward));
        Launch1D(Program("lrn").Kernel("lrn_forward"), s.Count, (int)s.Count, s.Channels, s.Height, s.Width, s.Size,
            s.Alpha, s.Beta, s.K, s.WithinChannel ? 1 : 0, Buf(x), x.Offset, Buf(scale), scale.Offset, Buf(y), y.Offset);
    }

    public void LrnBackward(in LrnShape s, BufferView x, BufferView y, BufferView scale, BufferView dy, BufferView dx)
    {
        SameCount(s.Count, Same(x, y, scale), nameof(LrnBackward));
        SameCount(s.Count, Same(dy, dx), nameof(LrnBackward));
        Launch1D(Program("lrn").Kernel("lrn_backward"), s.Count, (int)s.Count, s.Channels, s.Height, s.Width, s.Size,
            s.Alpha, s.Beta, s.WithinChannel ? 1 : 0, Buf(x), x.Offset, Buf(y), y.Offset, Buf(scale), scale.Offset,
            Buf(dy), dy.Offset, Buf(dx), dx.Offset);
    }

    public void UpsampleForward(int planes, int height, int width, int factor, BufferView x, BufferView y)
    {
        long outCount = (long)planes * height * width * factor * factor;
        SameCount((long)planes * height * width, x.Count, nameof(UpsampleForward));
        SameCount(outCount, y.Count, nameof(UpsampleForward));
        Launch1D(Program("upsample").Kernel("upsample_forward"), outCount, (int)outCount, height, width, factor,
            Buf(x), x.Offset, Buf(y), y.Offset);
    }

    public void UpsampleBackward(int planes, int height, int width, int factor, BufferView dy, BufferView dx)
    {
        long inCount = (long)planes * height * width;
        SameCount(inCount * factor * factor, dy.Count, nameof(UpsampleBackward));
        SameCount(inCount, dx.Count, nameof(UpsampleBackward));
        Launch1D(Program("upsample").Kernel("upsample_backward"), inCount, (int)inCount, height, width, factor,
            Buf(dy), dy.Offset, Buf(dx), dx.Offset);
    }

    public void UnpoolForward(int planes, int inPlane, int outPlane, BufferView x, BufferView mask, BufferView y, BufferView winner)
    {
        long inCount = (long)planes * inPlane, outCount = (long)planes * outPlane;
        SameCount(inCount, Same(x, mask), nameof(UnpoolForward));
        SameCount(outCount, Same(y, winner), nameof(UnpoolForward));
        var program = Program("upsample");
        Launch1D(program.Kernel("unpool_clear"), outCount, (int)outCount, Buf(winner), winner.Offset);
        Launch1D(program.Kernel("unpool_mark"), inCount, (int)inCount, inPlane, outPlane, Buf(mask), mask.Offset,
            Buf(winner), winner.Offset);
        Launch1D(program.Kernel("unpool_gather"), outCount, (int)outCount, Buf(winner), winner.Offset,
            Buf(x), x.Offset, Buf(y), y.Offset);
    }

    public void UnpoolBackward(int planes, int inPlane, int outPlane, BufferView dy, BufferView mask, BufferView dx)
    {
        long inCount = (long)planes * inPlane;
        SameCount(inCount, Same(mask, dx), nameof(UnpoolBackward));
        SameCount((long)planes * outPlane, dy.Count, nameof(UnpoolBackward));
        Launch1D(Program("upsample").Kernel("unpool_backward"), inCount, (int)inCount, inPlane, outPlane,
            Buf(dy), dy.Offset, Buf(mask), mask.Offset, Buf(dx), dx.Offset);
    }
}
