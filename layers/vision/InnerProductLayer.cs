using Engine.Backends;
using Engine.Core;
using Engine.Cpu;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Fully connected layer (Caffe's "InnerProduct"). The bottom is seen as M×K, M = the count of the
/// axes before `axis`, K = the count from `axis` on; top = bottom·Wᵀ + b is M×num_output, shaped
/// as the bottom's leading axes followed by num_output. W is num_output×K, or K×num_output with
/// transpose: true.
/// </summary>
[LayerType("InnerProduct")]
public sealed class InnerProductLayer : Layer
{
    private int _numOutput, _axis, _m, _k;
    private bool _biasTerm, _transpose;
    private float[] _ones = [];

    public InnerProductLayer(LayerParameter param) : base(param) { }

    public override int ExactBottoms => 1;
    public override int ExactTops => 1;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = Param.InnerProductParam ?? throw Error("inner_product_param with num_output is required");
        if (!p.HasNumOutput || p.NumOutput == 0) throw Error("inner_product_param.num_output is required and must be positive");
        _numOutput = checked((int)p.NumOutput);
        _biasTerm = p.BiasTerm;
        _transpose = p.Transpose;
        _axis = CanonicalAxis(bottom[0], p.Axis);
        _k = checked((int)bottom[0].CountFrom(_axis));

        int[] weightShape = _transpose ? [_k, _numOutput] : [_numOutput, _k];
        SetUpWeights(weightShape, p.WeightFiller, _biasTerm ? _numOutput : 0, p.BiasFiller);
    }

    private int CanonicalAxis(Blob b, int axis)
    {
        if (axis < -b.NumAxes || axis >= Math.Max(b.NumAxes, 1))
            throw Error($"axis {axis} is out of range for the {b.NumAxes}-D bottom \"{b.Name}\" {b.ShapeString}");
        return axis < 0 ? axis + b.NumAxes : axis;
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var b = bottom[0];
        int axis = CanonicalAxis(b, Param.InnerProductParam.Axis);
        long k = b.CountFrom(axis);
        if (k != _k)
            throw Error($"bottom \"{b.Name}\" {b.ShapeString} has {k} inputs per item (from axis {axis}), but the weights take {_k}");
        _axis = axis;
        _m = checked((int)b.CountRange(0, axis));
        var shape = new int[axis + 1];
        for (int i = 0; i < axis; i++) shape[i] = b.Dim(i);
        shape[axis] = _numOutput;
        top[0].Reshape(shape);
        if (_biasTerm && _ones.Length < _m)
        {
            _ones = new float[_m];
            _ones.AsSpan().Fill(1f);
        }
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        if (_m == 0) return;
        var output = top[0].Data;
        Blas.Sgemm(false, !_transpose, _m, _numOutput, _k, 1f, bottom[0].Data, Blobs[0].Data, 0f, output);
        if (_biasTerm)
            Blas.Sgemm(false, false, _m, _numOutput, 1, 1f, _ones.AsSpan(0, _m), Blobs[1].Data, 1f, output);
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (_m == 0) return;
        ReadOnlySpan<float> topDiff = top[0].Diff;
        if (ParamPropagateDown.Length > 0 && ParamPropagateDown[0])
        {
            ReadOnlySpan<float> input = bottom[0].Data;
            if (_transpose)
                Blas.Sgemm(true, false, _k, _numOutput, _m, 1f, input, topDiff, 1f, Blobs[0].Diff);
            else
                Blas.Sgemm(true, false, _numOutput, _k, _m, 1f, topDiff, input, 1f, Blobs[0].Diff);
        }
        if (_biasTerm && ParamPropagateDown.Length > 1 && ParamPropagateDown[1])
            Blas.Sgemv(true, _m, _numOutput, 1f, topDiff, _ones.AsSpan(0, _m), 1f, Blobs[1].Diff);
        if (propagateDown[0])
            Blas.Sgemm(false, _transpose, _m, _k, _numOutput, 1f, topDiff, Blobs[0].Data, 0f, bottom[0].Diff);
    }

    // ---- device: the same GEMMs through IBackend, the bias against the shared ones vector ----

    public override bool RunsOnDevice => true;

    /// <summary>Row stride of W as stored: num_output×K, or K×num_output with transpose.</summary>
    private int WeightStride => _transpose ? _numOutput : _k;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        if (_m == 0) return;
        var output = top[0].MutableDataOn(backend);
        backend.Gemm(false, !_transpose, _m, _numOutput, _k, 1f, bottom[0].DataOn(backend), _k, Blobs[0].DataOn(backend), WeightStride,
            0f, output, _numOutput);
        if (_biasTerm)
            backend.Gemm(false, false, _m, _numOutput, 1, 1f, DeviceScratch.For(backend).Ones(_m), 1, Blobs[1].DataOn(backend), _numOutput,
                1f, output, _numOutput);
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (_m == 0) return;
        var topDiff = top[0].DiffOn(backend);
        if (ParamPropagateDown.Length > 0 && ParamPropagateDown[0])
        {
            var input = bottom[0].DataOn(backend);
            var weightDiff = Blobs[0].MutableDiffOn(backend);
            if (_transpose)
                backend.Gemm(true, false, _k, _numOutput, _m, 1f, input, _k, topDiff, _numOutput, 1f, weightDiff, _numOutput);
            else
                backend.Gemm(true, false, _numOutput, _k, _m, 1f, topDiff, _numOutput, input, _k, 1f, weightDiff, _k);
        }
        // biasDiff (1 × num_output) += 1ᵀ (1 × M) · topDiff (M × num_output).
        if (_biasTerm && ParamPropagateDown.Length > 1 && ParamPropagateDown[1])
            backend.Gemm(false, false, 1, _numOutput, _m, 1f, DeviceScratch.For(backend).Ones(_m), _m, topDiff, _numOutput,
                1f, Blobs[1].MutableDiffOn(backend), _numOutput);
        if (propagateDown[0])
            backend.Gemm(false, _transpose, _m, _k, _numOutput, 1f, topDiff, _numOutput, Blobs[0].DataOn(backend), WeightStride,
                0f, bottom[0].MutableDiffOn(backend), _k);
    }
}
