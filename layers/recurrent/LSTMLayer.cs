using Engine.Backends;
using Engine.Core;
using Engine.Cpu;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Long short-term memory over a time-major sequence (Caffe's "LSTM"). H = num_output. For each
/// step t: gates_t = W_xc·x_t + b_c [+ W_xc_static·x_static] + W_hc·(cont_t·h_{t−1}), then Caffe's
/// LSTMUnit: i, f, o = σ, g = tanh (gate order i, f, o, g), c_t = cont_t·f·c_{t−1} + i·g,
/// h_t = o·tanh(c_t). Top: h for all steps, T×N×H (then h_T, c_T with expose_hidden).
/// Parameters in Caffe's order: W_xc (4H×I), b_c (4H), [W_xc_static (4H×I_static)], W_hc (4H×H).
/// See <see cref="RecurrentLayer"/> for the bottoms and the carried state.
/// </summary>
[LayerType("LSTM")]
public sealed class LSTMLayer : RecurrentLayer
{
    private float[] _gates = [], _dGates = [], _c = [], _hc = [], _ones = [];
    private float[] _static = [], _sumD = [], _dh = [], _dc = [], _dhc = [];
    private float[] _h0 = [], _c0 = [];
    // The state carried to the next forward pass (without expose_hidden), N×H each. Blobs, so the
    // state follows the layer between host and device code.
    private readonly Blob _hLast = new("h_last"), _cLast = new("c_last");
    // Device counterparts of the arrays above.
    private readonly DeviceBuffer _devGates = new(), _devDGates = new(), _devC = new(), _devHc = new(), _devOnes = new(),
        _devStatic = new(), _devSumD = new(), _devDh = new(), _devDc = new(), _devDhc = new(), _devC0 = new();

    public LSTMLayer(LayerParameter param) : base(param) { }

    protected override int NumStates => 2;

    private int G => 4 * H;
    private int WhcIndex => StaticInput ? 3 : 2;

    protected override IReadOnlyList<(int[] Shape, bool IsBias)> ParamShapes()
    {
        var list = new List<(int[], bool)> { ([G, I], false), ([G], true) };
        if (StaticInput) list.Add(([G, IStatic], false));
        list.Add(([G, H], false));
        return list;
    }

    protected override void ReshapeBuffers()
    {
        long tn = (long)T * N;
        Ensure(ref _gates, tn * G);
        Ensure(ref _dGates, tn * G);
        Ensure(ref _c, tn * H);
        Ensure(ref _hc, tn * H);
        if (_ones.Length < tn)
        {
            _ones = new float[tn];
            _ones.AsSpan().Fill(1f);
        }
        Ensure(ref _static, (long)N * G);
        Ensure(ref _sumD, (long)N * G);
        Ensure(ref _dh, (long)N * H);
        Ensure(ref _dc, (long)N * H);
        Ensure(ref _dhc, (long)N * H);
        Ensure(ref _h0, (long)N * H);
        Ensure(ref _c0, (long)N * H);
        _hLast.Reshape(N * H);
        _cLast.Reshape(N * H);
    }

    protected override void ResetState()
    {
        _hLast.DataMemory.Clear((int)_hLast.Count);
        _cLast.DataMemory.Clear((int)_cLast.Count);
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        int tn = T * N, nh = N * H, ng = N * G;
        if (tn == 0) return;
        var gates = _gates.AsSpan(0, tn * G);
        ReadOnlySpan<float> cont = bottom[1].Data;
        Blas.Sgemm(false, true, tn, G, I, 1f, bottom[0].Data, Blobs[0].Data, 0f, gates);
        Blas.Sgemm(false, false, tn, G, 1, 1f, _ones.AsSpan(0, tn), Blobs[1].Data, 1f, gates);
        if (StaticInput)
        {
            var s = _static.AsSpan(0, ng);
            Blas.Sgemm(false, true, N, G, IStatic, 1f, bottom[2].Data, Blobs[2].Data, 0f, s);
            AddToRows(gates, s, T);
        }

        ReadOnlySpan<float> h0, c0;
        if (ExposeHidden)
        {
            h0 = bottom[StateBottom].Data;
            c0 = bottom[StateBottom + 1].Data;
        }
        else
        {
            _hLast.ConstData.CopyTo(_h0);
            _cLast.ConstData.CopyTo(_c0);
            h0 = _h0.AsSpan(0, nh);
            c0 = _c0.AsSpan(0, nh);
        }

        var h = top[0].Data;
        var whc = Blobs[WhcIndex].Data;
        for (int t = 0; t < T; t++)
        {
            var contT = cont.Slice(t * N, N);
            var hc = _hc.AsSpan(t * nh, nh);
            ScaleRows(contT, t == 0 ? h0 : h.Slice((t - 1) * nh, nh), hc, N, H);
            var g = gates.Slice(t * ng, ng);
            Blas.Sgemm(false, true, N, G, H, 1f, hc, whc, 1f, g);
            LstmCell.Forward(N, H, g, t == 0 ? c0 : _c.AsSpan((t - 1) * nh, nh), contT, _c.AsSpan(t * nh, nh), h.Slice(t * nh, nh));
        }

        var hT = h.Slice((T - 1) * nh, nh);
        var cT = _c.AsSpan((T - 1) * nh, nh);
        if (ExposeHidden)
        {
            hT.CopyTo(top[1].Data);
            cT.CopyTo(top[2].Data);
        }
        else
        {
            hT.CopyTo(_hLast.Data);
            cT.CopyTo(_cLast.Data);
        }
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (propagateDown[1]) throw Error($"cannot back-propagate to the sequence indicators \"{bottom[1].Name}\"");
        int tn = T * N, nh = N * H, ng = N * G;
        if (tn == 0) return;
        ReadOnlySpan<float> cont = bottom[1].Data;
        ReadOnlySpan<float> topDiff = top[0].Diff;
        ReadOnlySpan<float> c0 = ExposeHidden ? bottom[StateBottom + 1].Data : _c0.AsSpan(0, nh);
        var whc = Blobs[WhcIndex].Data;
        var dh = _dh.AsSpan(0, nh);
        var dc = _dc.AsSpan(0, nh);
        var dhc = _dhc.AsSpan(0, nh);
        var dGates = _dGates.AsSpan(0, tn * G);
        if (ExposeHidden)
        {
            top[1].Diff.CopyTo(dh);
            top[2].Diff.CopyTo(dc);
        }
        else
        {
            dh.Clear();
            dc.Clear();
        }

        for (int t = T - 1; t >= 0; t--)
        {
            System.Numerics.Tensors.TensorPrimitives.Add(dh, topDiff.Slice(t * nh, nh), dh);
            var contT = cont.Slice(t * N, N);
            var dg = dGates.Slice(t * ng, ng);
            LstmCell.Backward(N, H, _gates.AsSpan(t * ng, ng), t == 0 ? c0 : _c.AsSpan((t - 1) * nh, nh),
                _c.AsSpan(t * nh, nh), contT, dh, dc, dg);
            Blas.Sgemm(false, false, N, H, G, 1f, dg, whc, 0f, dhc);
            ScaleRows(contT, dhc, dh, N, H);
        }

        if (ExposeHidden)
        {
            if (propagateDown[StateBottom]) dh.CopyTo(bottom[StateBottom].Diff);
            if (propagateDown[StateBottom + 1]) dc.CopyTo(bottom[StateBottom + 1].Diff);
        }

        ReadOnlySpan<float> x = bottom[0].Data;
        if (ParamPropagateDown[0]) Blas.Sgemm(true, false, G, I, tn, 1f, dGates, x, 1f, Blobs[0].Diff);
        if (ParamPropagateDown[1]) Blas.Sgemv(true, tn, G, 1f, dGates, _ones.AsSpan(0, tn), 1f, Blobs[1].Diff);
        if (ParamPropagateDown[WhcIndex]) Blas.Sgemm(true, false, G, H, tn, 1f, dGates, _hc.AsSpan(0, tn * H), 1f, Blobs[WhcIndex].Diff);
        if (StaticInput && (ParamPropagateDown[2] || propagateDown[2]))
        {
            var sum = _sumD.AsSpan(0, ng);
            SumBlocks(dGates, sum, T);
            if (ParamPropagateDown[2]) Blas.Sgemm(true, false, G, IStatic, N, 1f, sum, bottom[2].Data, 1f, Blobs[2].Diff);
            if (propagateDown[2]) Blas.Sgemm(false, false, N, IStatic, G, 1f, sum, Blobs[2].Data, 0f, bottom[2].Diff);
        }
        if (propagateDown[0]) Blas.Sgemm(false, false, tn, I, G, 1f, dGates, Blobs[0].Data, 0f, bottom[0].Diff);
    }

    public override bool RunsOnDevice => true;

    /// <summary>The host loop with the backend's GEMM, the continuation scaling and the LSTM step.</summary>
    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        int tn = T * N, nh = N * H, ng = N * G;
        if (tn == 0) return;
        var gates = _devGates.On(backend, (long)tn * G);
        var ones = _devOnes.On(backend, tn);
        backend.Fill(ones, 1f);
        var cont = bottom[1].DataOn(backend);
        backend.Gemm(false, true, tn, G, I, 1f, bottom[0].DataOn(backend), I, Blobs[0].DataOn(backend), I, 0f, gates, G);
        backend.Gemm(false, false, tn, G, 1, 1f, ones, 1, Blobs[1].DataOn(backend), G, 1f, gates, G);
        if (StaticInput)
        {
            var s = _devStatic.On(backend, ng);
            backend.Gemm(false, true, N, G, IStatic, 1f, bottom[2].DataOn(backend), IStatic, Blobs[2].DataOn(backend), IStatic, 0f, s, G);
            for (int t = 0; t < T; t++) backend.Axpy(1f, s, gates.Slice(t * ng, ng));
        }

        BufferView h0, c0;
        if (ExposeHidden)
        {
            h0 = bottom[StateBottom].DataOn(backend);
            c0 = bottom[StateBottom + 1].DataOn(backend);
        }
        else
        {
            // h0 is only read at step 0 (before the carried state is overwritten); backward needs c0.
            h0 = _hLast.DataOn(backend);
            c0 = _devC0.On(backend, nh);
            backend.Copy(_cLast.DataOn(backend), c0);
        }

        var h = top[0].MutableDataOn(backend);
        var whc = Blobs[WhcIndex].DataOn(backend);
        var c = _devC.On(backend, (long)tn * H);
        var hc = _devHc.On(backend, (long)tn * H);
        for (int t = 0; t < T; t++)
        {
            var contT = cont.Slice(t * N, N);
            var hcT = hc.Slice(t * nh, nh);
            backend.ContinuationScale(N, H, contT, t == 0 ? h0 : h.Slice((t - 1) * nh, nh), hcT);
            var g = gates.Slice(t * ng, ng);
            backend.Gemm(false, true, N, G, H, 1f, hcT, H, whc, H, 1f, g, G);
            backend.LstmForward(N, H, g, t == 0 ? c0 : c.Slice((t - 1) * nh, nh), contT, c.Slice(t * nh, nh), h.Slice(t * nh, nh));
        }

        var hT = h.Slice((T - 1) * nh, nh);
        var cT = c.Slice((T - 1) * nh, nh);
        backend.Copy(hT, (ExposeHidden ? top[1] : _hLast).MutableDataOn(backend));
        backend.Copy(cT, (ExposeHidden ? top[2] : _cLast).MutableDataOn(backend));
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (propagateDown[1]) throw Error($"cannot back-propagate to the sequence indicators \"{bottom[1].Name}\"");
        int tn = T * N, nh = N * H, ng = N * G;
        if (tn == 0) return;
        var cont = bottom[1].DataOn(backend);
        var topDiff = top[0].DiffOn(backend);
        var c0 = ExposeHidden ? bottom[StateBottom + 1].DataOn(backend) : _devC0.On(backend, nh);
        var whc = Blobs[WhcIndex].DataOn(backend);
        var gates = _devGates.On(backend, (long)tn * G);
        var c = _devC.On(backend, (long)tn * H);
        var dh = _devDh.On(backend, nh);
        var dc = _devDc.On(backend, nh);
        var dhc = _devDhc.On(backend, nh);
        var dGates = _devDGates.On(backend, (long)tn * G);
        if (ExposeHidden)
        {
            backend.Copy(top[1].DiffOn(backend), dh);
            backend.Copy(top[2].DiffOn(backend), dc);
        }
        else
        {
            backend.Fill(dh, 0f);
            backend.Fill(dc, 0f);
        }

        for (int t = T - 1; t >= 0; t--)
        {
            backend.Add(dh, topDiff.Slice(t * nh, nh), dh);
            var contT = cont.Slice(t * N, N);
            var dg = dGates.Slice(t * ng, ng);
            backend.LstmBackward(N, H, gates.Slice(t * ng, ng), t == 0 ? c0 : c.Slice((t - 1) * nh, nh), c.Slice(t * nh, nh),
                contT, dh, dc, dc, dg);
            backend.Gemm(false, false, N, H, G, 1f, dg, G, whc, H, 0f, dhc, H);
            backend.ContinuationScale(N, H, contT, dhc, dh);
        }

        if (ExposeHidden)
        {
            if (propagateDown[StateBottom]) backend.Copy(dh, bottom[StateBottom].MutableDiffOn(backend));
            if (propagateDown[StateBottom + 1]) backend.Copy(dc, bottom[StateBottom + 1].MutableDiffOn(backend));
        }

        var x = bottom[0].DataOn(backend);
        if (ParamPropagateDown[0]) backend.Gemm(true, false, G, I, tn, 1f, dGates, G, x, I, 1f, Blobs[0].MutableDiffOn(backend), I);
        if (ParamPropagateDown[1]) backend.Gemm(true, false, G, 1, tn, 1f, dGates, G, _devOnes.On(backend, tn), 1, 1f, Blobs[1].MutableDiffOn(backend), 1);
        if (ParamPropagateDown[WhcIndex])
            backend.Gemm(true, false, G, H, tn, 1f, dGates, G, _devHc.On(backend, (long)tn * H), H, 1f, Blobs[WhcIndex].MutableDiffOn(backend), H);
        if (StaticInput && (ParamPropagateDown[2] || propagateDown[2]))
        {
            // Σ over the steps, in the host's order.
            var sum = _devSumD.On(backend, ng);
            backend.Copy(dGates.Slice(0, ng), sum);
            for (int t = 1; t < T; t++) backend.Axpy(1f, dGates.Slice(t * ng, ng), sum);
            if (ParamPropagateDown[2])
                backend.Gemm(true, false, G, IStatic, N, 1f, sum, G, bottom[2].DataOn(backend), IStatic, 1f, Blobs[2].MutableDiffOn(backend), IStatic);
            if (propagateDown[2])
                backend.Gemm(false, false, N, IStatic, G, 1f, sum, G, Blobs[2].DataOn(backend), IStatic, 0f, bottom[2].MutableDiffOn(backend), IStatic);
        }
        if (propagateDown[0]) backend.Gemm(false, false, tn, I, G, 1f, dGates, G, Blobs[0].DataOn(backend), I, 0f, bottom[0].MutableDiffOn(backend), I);
    }
}
