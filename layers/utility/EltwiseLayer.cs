using System.Numerics.Tensors;
using Engine.Backends;
using Engine.Core;
using Engine.Cpu;
using Engine.Proto;
using Op = Engine.Proto.EltwiseParameter.Types.EltwiseOp;

namespace Engine.Layers;

/// <summary>
/// Combines two or more same-shaped bottoms elementwise (eltwise_param.operation): SUM (default)
/// with optional per-bottom coeff, PROD, or MAX. Backward: SUM gives coeff_i·dy; PROD gives
/// dy·Π_{j≠i} x_j (stable_prod_grad, default) or dy·y/x_i; MAX sends dy to the bottom that
/// held the maximum (the first two compare with a strict &gt;, so on a tie bottom 1 wins over
/// bottom 0 and later bottoms win only when strictly larger, as Caffe).
/// </summary>
[LayerType("Eltwise")]
public sealed class EltwiseLayer : Layer
{
    private Op _op;
    private float[] _coeff = [];
    private bool _stableProd;
    private int[] _argmax = [];

    public EltwiseLayer(LayerParameter param) : base(param) { }

    public override int MinBottoms => 2;
    public override int ExactTops => 1;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = Param.EltwiseParam ?? new EltwiseParameter();
        _op = p.Operation;
        if (p.Coeff.Count > 0 && _op != Op.Sum) throw Error($"eltwise_param.coeff applies to SUM only, not {_op.ToString().ToUpperInvariant()}");
        if (p.Coeff.Count > 0 && p.Coeff.Count != bottom.Count)
            throw Error($"{p.Coeff.Count} eltwise_param.coeff values for {bottom.Count} bottoms; give one per bottom");
        _coeff = p.Coeff.Count > 0 ? p.Coeff.ToArray() : Enumerable.Repeat(1f, bottom.Count).ToArray();
        _stableProd = p.StableProdGrad;
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        for (int i = 0; i < bottom.Count; i++)
        {
            if (ReferenceEquals(bottom[i], top[0])) throw Error($"top \"{top[0].Name}\" is also a bottom; Eltwise does not work in place");
            if (!bottom[i].ShapeEquals(bottom[0]))
                throw Error($"bottom {i} \"{bottom[i].Name}\" {bottom[i].ShapeString} does not match bottom 0 \"{bottom[0].Name}\" {bottom[0].ShapeString}");
        }
        top[0].ReshapeLike(bottom[0]);
        if (_op == Op.Max && _argmax.Length < bottom[0].Count) _argmax = new int[bottom[0].Count];
    }

    // Every operation is elementwise: large blobs are cut into one piece per thread (WorkerPool.ForRange).
    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) =>
        WorkerPool.ForRange(checked((int)top[0].Count), (Layer: this, Bottom: bottom, Top: top),
            static (start, count, st) => st.Layer.ForwardRange(st.Bottom, st.Top, start, count));

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom) =>
        WorkerPool.ForRange(checked((int)top[0].Count), (Layer: this, Top: top, Down: propagateDown, Bottom: bottom),
            static (start, count, st) => st.Layer.BackwardRange(st.Top, st.Down, st.Bottom, start, count));

    private void ForwardRange(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top, int start, int count)
    {
        Span<float> y = top[0].Data.Slice(start, count);
        switch (_op)
        {
            case Op.Prod:
                TensorPrimitives.Multiply(bottom[0].Data.Slice(start, count), bottom[1].Data.Slice(start, count), y);
                for (int i = 2; i < bottom.Count; i++) TensorPrimitives.Multiply(y, bottom[i].Data.Slice(start, count), y);
                break;
            case Op.Sum:
                TensorPrimitives.Multiply(bottom[0].Data.Slice(start, count), _coeff[0], y);
                for (int i = 1; i < bottom.Count; i++) TensorPrimitives.MultiplyAdd(bottom[i].Data.Slice(start, count), _coeff[i], y, y);
                break;
            case Op.Max:
                {
                    var arg = _argmax.AsSpan(start, count);
                    ReadOnlySpan<float> a = bottom[0].Data.Slice(start, count), b = bottom[1].Data.Slice(start, count);
                    for (int k = 0; k < y.Length; k++)
                    {
                        if (a[k] > b[k]) { y[k] = a[k]; arg[k] = 0; }
                        else { y[k] = b[k]; arg[k] = 1; }
                    }
                    for (int i = 2; i < bottom.Count; i++)
                    {
                        ReadOnlySpan<float> x = bottom[i].Data.Slice(start, count);
                        for (int k = 0; k < y.Length; k++)
                            if (x[k] > y[k]) { y[k] = x[k]; arg[k] = i; }
                    }
                    break;
                }
            default:
                throw Error($"unknown eltwise_param.operation {(int)_op}");
        }
    }

    private void BackwardRange(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom, int start, int count)
    {
        ReadOnlySpan<float> dy = top[0].Diff.Slice(start, count);
        for (int i = 0; i < bottom.Count; i++)
        {
            if (!propagateDown[i]) continue;
            Span<float> dx = bottom[i].Diff.Slice(start, count);
            switch (_op)
            {
                case Op.Prod:
                    if (_stableProd)
                    {
                        bool first = true;
                        for (int j = 0; j < bottom.Count; j++)
                        {
                            if (j == i) continue;
                            if (first) bottom[j].Data.Slice(start, count).CopyTo(dx);
                            else TensorPrimitives.Multiply(dx, bottom[j].Data.Slice(start, count), dx);
                            first = false;
                        }
                    }
                    else TensorPrimitives.Divide(top[0].Data.Slice(start, count), bottom[i].Data.Slice(start, count), dx);
                    TensorPrimitives.Multiply(dx, dy, dx);
                    break;
                case Op.Sum:
                    if (_coeff[i] == 1f) dy.CopyTo(dx);
                    else TensorPrimitives.Multiply(dy, _coeff[i], dx);
                    break;
                case Op.Max:
                    {
                        ReadOnlySpan<int> arg = _argmax.AsSpan(start, count);
                        for (int k = 0; k < dy.Length; k++) dx[k] = arg[k] == i ? dy[k] : 0f;
                        break;
                    }
            }
        }
    }

    // SUM is Scale + Axpy, PROD is Mul (and Divide without stable_prod_grad); MAX keeps its argmax
    // (bottom indices as floats) in a device buffer for backward.
    private readonly DeviceBuffer _deviceArgmax = new();

    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var y = top[0].MutableDataOn(backend);
        switch (_op)
        {
            case Op.Prod:
                backend.Mul(bottom[0].DataOn(backend), bottom[1].DataOn(backend), y);
                for (int i = 2; i < bottom.Count; i++) backend.Mul(y, bottom[i].DataOn(backend), y);
                break;
            case Op.Sum:
                backend.Scale(_coeff[0], bottom[0].DataOn(backend), y);
                for (int i = 1; i < bottom.Count; i++) backend.Axpy(_coeff[i], bottom[i].DataOn(backend), y);
                break;
            case Op.Max:
                {
                    var arg = _deviceArgmax.On(backend, y.Count);
                    backend.MaxArgForward(bottom[0].DataOn(backend), bottom[1].DataOn(backend), 1, y, arg);
                    for (int i = 2; i < bottom.Count; i++) backend.MaxArgForward(y, bottom[i].DataOn(backend), i, y, arg);
                    break;
                }
            default:
                throw Error($"unknown eltwise_param.operation {(int)_op}");
        }
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        var dy = top[0].DiffOn(backend);
        for (int i = 0; i < bottom.Count; i++)
        {
            if (!propagateDown[i]) continue;
            var dx = bottom[i].MutableDiffOn(backend);
            switch (_op)
            {
                case Op.Prod:
                    if (_stableProd)
                    {
                        bool first = true;
                        for (int j = 0; j < bottom.Count; j++)
                        {
                            if (j == i) continue;
                            if (first) backend.Copy(bottom[j].DataOn(backend), dx);
                            else backend.Mul(dx, bottom[j].DataOn(backend), dx);
                            first = false;
                        }
                    }
                    else backend.Divide(top[0].DataOn(backend), bottom[i].DataOn(backend), dx);
                    backend.Mul(dx, dy, dx);
                    break;
                case Op.Sum:
                    if (_coeff[i] == 1f) backend.Copy(dy, dx);
                    else backend.Scale(_coeff[i], dy, dx);
                    break;
                case Op.Max:
                    backend.MaxArgBackward(_deviceArgmax.On(backend, dy.Count), i, dy, dx);
                    break;
            }
        }
    }
}
