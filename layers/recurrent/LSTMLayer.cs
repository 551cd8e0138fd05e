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
    private float[] _h0 = [], _c0 = [], _hLast = [], _cLast = [];

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
        Ensure(ref _hLast, (long)N * H);
        Ensure(ref _cLast, (long)N * H);
    }

    protected override void ResetState()
    {
        _hLast.AsSpan().Clear();
        _cLast.AsSpan().Clear();
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
            _hLast.AsSpan(0, nh).CopyTo(_h0);
            _cLast.AsSpan(0, nh).CopyTo(_c0);
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
            hT.CopyTo(_hLast);
            cT.CopyTo(_cLast);
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
}
