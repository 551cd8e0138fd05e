using System.Numerics.Tensors;
using Engine.Backends;
using Engine.Core;
using Engine.Cpu;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Simple recurrent net over a time-major sequence (Caffe's "RNN"). H = num_output. For each step:
/// h_t = tanh(W_hh·(cont_t·h_{t−1}) + W_xh·x_t + b_h [+ W_xh_static·x_static]),
/// o_t = tanh(W_ho·h_t + b_o). Top: o for all steps, T×N×H (then h_T with expose_hidden).
/// Parameters in Caffe's order: W_xh (H×I), b_h (H), [W_xh_static (H×I_static)], W_hh (H×H),
/// W_ho (H×H), b_o (H). See <see cref="RecurrentLayer"/> for the bottoms and the carried state.
/// </summary>
[LayerType("RNN")]
public sealed class RNNLayer : RecurrentLayer
{
    private float[] _h = [], _hc = [], _dz = [], _do = [], _ones = [];
    private float[] _static = [], _sumD = [], _dh = [], _dhc = [], _h0 = [];
    // The state carried to the next forward pass (without expose_hidden), N×H. A blob, so the
    // state follows the layer between host and device code.
    private readonly Blob _hLast = new("h_last");
    // Device counterparts of the arrays above.
    private readonly DeviceBuffer _dH = new(), _dHc = new(), _dDz = new(), _dDo = new(), _dOnes = new(),
        _dStatic = new(), _dSumD = new(), _dDh = new(), _dDhc = new();

    public RNNLayer(LayerParameter param) : base(param) { }

    protected override int NumStates => 1;

    private int S => StaticInput ? 1 : 0;
    private int WhhIndex => 2 + S;
    private int WhoIndex => 3 + S;
    private int BoIndex => 4 + S;

    protected override IReadOnlyList<(int[] Shape, bool IsBias)> ParamShapes()
    {
        var list = new List<(int[], bool)> { ([H, I], false), ([H], true) };
        if (StaticInput) list.Add(([H, IStatic], false));
        list.Add(([H, H], false));
        list.Add(([H, H], false));
        list.Add(([H], true));
        return list;
    }

    protected override void ReshapeBuffers()
    {
        long tn = (long)T * N, nh = (long)N * H;
        Ensure(ref _h, tn * H);
        Ensure(ref _hc, tn * H);
        Ensure(ref _dz, tn * H);
        Ensure(ref _do, tn * H);
        if (_ones.Length < tn)
        {
            _ones = new float[tn];
            _ones.AsSpan().Fill(1f);
        }
        Ensure(ref _static, nh);
        Ensure(ref _sumD, nh);
        Ensure(ref _dh, nh);
        Ensure(ref _dhc, nh);
        Ensure(ref _h0, nh);
        _hLast.Reshape(N * H);
    }

    protected override void ResetState() => _hLast.DataMemory.Clear((int)_hLast.Count);

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        int tn = T * N, nh = N * H;
        if (tn == 0) return;
        var hAll = _h.AsSpan(0, tn * H);
        ReadOnlySpan<float> cont = bottom[1].Data;
        var ones = _ones.AsSpan(0, tn);
        Blas.Sgemm(false, true, tn, H, I, 1f, bottom[0].Data, Blobs[0].Data, 0f, hAll);
        Blas.Sgemm(false, false, tn, H, 1, 1f, ones, Blobs[1].Data, 1f, hAll);
        if (StaticInput)
        {
            var s = _static.AsSpan(0, nh);
            Blas.Sgemm(false, true, N, H, IStatic, 1f, bottom[2].Data, Blobs[2].Data, 0f, s);
            AddToRows(hAll, s, T);
        }

        ReadOnlySpan<float> h0;
        if (ExposeHidden) h0 = bottom[StateBottom].Data;
        else
        {
            _hLast.ConstData.CopyTo(_h0);
            h0 = _h0.AsSpan(0, nh);
        }

        var whh = Blobs[WhhIndex].Data;
        for (int t = 0; t < T; t++)
        {
            var hc = _hc.AsSpan(t * nh, nh);
            ScaleRows(cont.Slice(t * N, N), t == 0 ? h0 : hAll.Slice((t - 1) * nh, nh), hc, N, H);
            var z = hAll.Slice(t * nh, nh);
            Blas.Sgemm(false, true, N, H, H, 1f, hc, whh, 1f, z);
            TensorPrimitives.Tanh(z, z);
        }

        var o = top[0].Data;
        Blas.Sgemm(false, true, tn, H, H, 1f, hAll, Blobs[WhoIndex].Data, 0f, o);
        Blas.Sgemm(false, false, tn, H, 1, 1f, ones, Blobs[BoIndex].Data, 1f, o);
        TensorPrimitives.Tanh(o, o);

        var hT = hAll.Slice((T - 1) * nh, nh);
        hT.CopyTo(ExposeHidden ? top[1].Data : _hLast.Data);
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (propagateDown[1]) throw Error($"cannot back-propagate to the sequence indicators \"{bottom[1].Name}\"");
        int tn = T * N, nh = N * H;
        if (tn == 0) return;
        ReadOnlySpan<float> cont = bottom[1].Data;
        ReadOnlySpan<float> hAll = _h.AsSpan(0, tn * H);
        var ones = _ones.AsSpan(0, tn);

        // Output layer: dO = dTop·(1 − o²).
        var dO = _do.AsSpan(0, tn * H);
        ReadOnlySpan<float> o = top[0].Data, dTop = top[0].Diff;
        for (int i = 0; i < dO.Length; i++) dO[i] = dTop[i] * (1f - o[i] * o[i]);
        if (ParamPropagateDown[WhoIndex]) Blas.Sgemm(true, false, H, H, tn, 1f, dO, hAll, 1f, Blobs[WhoIndex].Diff);
        if (ParamPropagateDown[BoIndex]) Blas.Sgemv(true, tn, H, 1f, dO, ones, 1f, Blobs[BoIndex].Diff);

        // Gradient for every h_t from the outputs, then back through time (dz overwrites it step by step).
        var dz = _dz.AsSpan(0, tn * H);
        Blas.Sgemm(false, false, tn, H, H, 1f, dO, Blobs[WhoIndex].Data, 0f, dz);
        var dh = _dh.AsSpan(0, nh);
        var dhc = _dhc.AsSpan(0, nh);
        if (ExposeHidden) top[1].Diff.CopyTo(dh);
        else dh.Clear();
        var whh = Blobs[WhhIndex].Data;
        for (int t = T - 1; t >= 0; t--)
        {
            var dzT = dz.Slice(t * nh, nh);
            var hT = hAll.Slice(t * nh, nh);
            for (int i = 0; i < nh; i++) dzT[i] = (dzT[i] + dh[i]) * (1f - hT[i] * hT[i]);
            Blas.Sgemm(false, false, N, H, H, 1f, dzT, whh, 0f, dhc);
            ScaleRows(cont.Slice(t * N, N), dhc, dh, N, H);
        }
        if (ExposeHidden && propagateDown[StateBottom]) dh.CopyTo(bottom[StateBottom].Diff);

        ReadOnlySpan<float> x = bottom[0].Data;
        if (ParamPropagateDown[0]) Blas.Sgemm(true, false, H, I, tn, 1f, dz, x, 1f, Blobs[0].Diff);
        if (ParamPropagateDown[1]) Blas.Sgemv(true, tn, H, 1f, dz, ones, 1f, Blobs[1].Diff);
        if (ParamPropagateDown[WhhIndex]) Blas.Sgemm(true, false, H, H, tn, 1f, dz, _hc.AsSpan(0, tn * H), 1f, Blobs[WhhIndex].Diff);
        if (StaticInput && (ParamPropagateDown[2] || propagateDown[2]))
        {
            var sum = _sumD.AsSpan(0, nh);
            SumBlocks(dz, sum, T);
            if (ParamPropagateDown[2]) Blas.Sgemm(true, false, H, IStatic, N, 1f, sum, bottom[2].Data, 1f, Blobs[2].Diff);
            if (propagateDown[2]) Blas.Sgemm(false, false, N, IStatic, H, 1f, sum, Blobs[2].Data, 0f, bottom[2].Diff);
        }
        if (propagateDown[0]) Blas.Sgemm(false, false, tn, I, H, 1f, dz, Blobs[0].Data, 0f, bottom[0].Diff);
    }

    public override bool RunsOnDevice => true;

    /// <summary>The host loop with the backend's GEMM, continuation scaling and tanh.</summary>
    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        int tn = T * N, nh = N * H;
        if (tn == 0) return;
        var hAll = _dH.On(backend, (long)tn * H);
        var ones = _dOnes.On(backend, tn);
        backend.Fill(ones, 1f);
        var cont = bottom[1].DataOn(backend);
        backend.Gemm(false, true, tn, H, I, 1f, bottom[0].DataOn(backend), I, Blobs[0].DataOn(backend), I, 0f, hAll, H);
        backend.Gemm(false, false, tn, H, 1, 1f, ones, 1, Blobs[1].DataOn(backend), H, 1f, hAll, H);
        if (StaticInput)
        {
            var s = _dStatic.On(backend, nh);
            backend.Gemm(false, true, N, H, IStatic, 1f, bottom[2].DataOn(backend), IStatic, Blobs[2].DataOn(backend), IStatic, 0f, s, H);
            for (int t = 0; t < T; t++) backend.Axpy(1f, s, hAll.Slice(t * nh, nh));
        }

        // h0 is only read at step 0, before the carried state is overwritten at the end.
        var h0 = ExposeHidden ? bottom[StateBottom].DataOn(backend) : _hLast.DataOn(backend);
        var whh = Blobs[WhhIndex].DataOn(backend);
        var hc = _dHc.On(backend, (long)tn * H);
        for (int t = 0; t < T; t++)
        {
            var hcT = hc.Slice(t * nh, nh);
            backend.ContinuationScale(N, H, cont.Slice(t * N, N), t == 0 ? h0 : hAll.Slice((t - 1) * nh, nh), hcT);
            var z = hAll.Slice(t * nh, nh);
            backend.Gemm(false, true, N, H, H, 1f, hcT, H, whh, H, 1f, z, H);
            backend.TanhForward(z, z);
        }

        var o = top[0].MutableDataOn(backend);
        backend.Gemm(false, true, tn, H, H, 1f, hAll, H, Blobs[WhoIndex].DataOn(backend), H, 0f, o, H);
        backend.Gemm(false, false, tn, H, 1, 1f, ones, 1, Blobs[BoIndex].DataOn(backend), H, 1f, o, H);
        backend.TanhForward(o, o);

        backend.Copy(hAll.Slice((T - 1) * nh, nh), (ExposeHidden ? top[1] : _hLast).MutableDataOn(backend));
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (propagateDown[1]) throw Error($"cannot back-propagate to the sequence indicators \"{bottom[1].Name}\"");
        int tn = T * N, nh = N * H;
        if (tn == 0) return;
        var cont = bottom[1].DataOn(backend);
        var hAll = _dH.On(backend, (long)tn * H);
        var ones = _dOnes.On(backend, tn);

        // Output layer: dO = dTop·(1 − o²).
        var dO = _dDo.On(backend, (long)tn * H);
        backend.TanhBackward(top[0].DataOn(backend), top[0].DiffOn(backend), dO);
        if (ParamPropagateDown[WhoIndex]) backend.Gemm(true, false, H, H, tn, 1f, dO, H, hAll, H, 1f, Blobs[WhoIndex].MutableDiffOn(backend), H);
        if (ParamPropagateDown[BoIndex]) backend.Gemm(true, false, H, 1, tn, 1f, dO, H, ones, 1, 1f, Blobs[BoIndex].MutableDiffOn(backend), 1);

        var dz = _dDz.On(backend, (long)tn * H);
        backend.Gemm(false, false, tn, H, H, 1f, dO, H, Blobs[WhoIndex].DataOn(backend), H, 0f, dz, H);
        var dh = _dDh.On(backend, nh);
        var dhc = _dDhc.On(backend, nh);
        if (ExposeHidden) backend.Copy(top[1].DiffOn(backend), dh);
        else backend.Fill(dh, 0f);
        var whh = Blobs[WhhIndex].DataOn(backend);
        for (int t = T - 1; t >= 0; t--)
        {
            var dzT = dz.Slice(t * nh, nh);
            backend.Add(dzT, dh, dzT);
            backend.TanhBackward(hAll.Slice(t * nh, nh), dzT, dzT);
            backend.Gemm(false, false, N, H, H, 1f, dzT, H, whh, H, 0f, dhc, H);
            backend.ContinuationScale(N, H, cont.Slice(t * N, N), dhc, dh);
        }
        if (ExposeHidden && propagateDown[StateBottom]) backend.Copy(dh, bottom[StateBottom].MutableDiffOn(backend));

        var x = bottom[0].DataOn(backend);
        if (ParamPropagateDown[0]) backend.Gemm(true, false, H, I, tn, 1f, dz, H, x, I, 1f, Blobs[0].MutableDiffOn(backend), I);
        if (ParamPropagateDown[1]) backend.Gemm(true, false, H, 1, tn, 1f, dz, H, ones, 1, 1f, Blobs[1].MutableDiffOn(backend), 1);
        if (ParamPropagateDown[WhhIndex])
            backend.Gemm(true, false, H, H, tn, 1f, dz, H, _dHc.On(backend, (long)tn * H), H, 1f, Blobs[WhhIndex].MutableDiffOn(backend), H);
        if (StaticInput && (ParamPropagateDown[2] || propagateDown[2]))
        {
            // Σ over the steps, in the host's order.
            var sum = _dSumD.On(backend, nh);
            backend.Copy(dz.Slice(0, nh), sum);
            for (int t = 1; t < T; t++) backend.Axpy(1f, dz.Slice(t * nh, nh), sum);
            if (ParamPropagateDown[2])
                backend.Gemm(true, false, H, IStatic, N, 1f, sum, H, bottom[2].DataOn(backend), IStatic, 1f, Blobs[2].MutableDiffOn(backend), IStatic);
            if (propagateDown[2])
                backend.Gemm(false, false, N, IStatic, H, 1f, sum, H, Blobs[2].DataOn(backend), IStatic, 0f, bottom[2].MutableDiffOn(backend), IStatic);
        }
        if (propagateDown[0]) backend.Gemm(false, false, tn, I, H, 1f, dz, H, Blobs[0].DataOn(backend), I, 0f, bottom[0].MutableDiffOn(backend), I);
    }
}
