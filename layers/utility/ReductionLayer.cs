using System.Numerics.Tensors;
using Engine.Backends;
using Engine.Core;
using Engine.Proto;
using Op = Engine.Proto.ReductionParameter.Types.ReductionOp;

namespace Engine.Layers;

/// <summary>
/// Reduces all axes from reduction_param.axis (default 0) on to one number per index of the
/// axes before it, times coeff (default 1): SUM (default), ASUM (Σ|x|), SUMSQ (Σx²) or MEAN.
/// The top has the bottom's leading axes (a scalar for axis 0). Backward: coeff·dy times
/// 1, sign(x), 2x or 1/n respectively.
/// </summary>
[LayerType("Reduction")]
public sealed class ReductionLayer : Layer
{
    private Op _op;
    private float _coeff;
    private int _num, _dim;

    public ReductionLayer(LayerParameter param) : base(param) { }

    public override int ExactBottoms => 1;
    public override int ExactTops => 1;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = Param.ReductionParam ?? new ReductionParameter();
        _op = p.Operation;
        if (_op is not (Op.Sum or Op.Asum or Op.Sumsq or Op.Mean)) throw Error($"unknown reduction_param.operation {(int)_op}");
        _coeff = p.Coeff;
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var b = bottom[0];
        if (ReferenceEquals(top[0], b)) throw Error($"top \"{top[0].Name}\" is the bottom itself; Reduction does not work in place");
        int axis = Param.ReductionParam?.Axis ?? 0;
        if (axis < -b.NumAxes || axis >= Math.Max(b.NumAxes, 1))
            throw Error($"reduction_param.axis {axis} is out of range for the {b.NumAxes}-D bottom \"{b.Name}\" {b.ShapeString}");
        if (axis < 0) axis += b.NumAxes;
        top[0].Reshape(b.Shape.Take(axis).ToArray());
        _num = (int)b.CountRange(0, axis);
        _dim = (int)b.CountFrom(axis);
    }

    private float Scale => _op == Op.Mean ? (_dim == 0 ? 0f : _coeff / _dim) : _coeff;

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        ReadOnlySpan<float> x = bottom[0].Data;
        Span<float> y = top[0].Data;
        float scale = Scale;
        for (int n = 0; n < _num; n++)
        {
            var row = x.Slice(n * _dim, _dim);
            float v = _op switch
            {
                Op.Asum => TensorPrimitives.SumOfMagnitudes(row),
                Op.Sumsq => TensorPrimitives.SumOfSquares(row),
                _ => TensorPrimitives.Sum(row),
            };
            y[n] = v * scale;
        }
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        ReadOnlySpan<float> x = bottom[0].Data;
        ReadOnlySpan<float> dy = top[0].Diff;
        Span<float> dx = bottom[0].Diff;
        float scale = Scale;
        for (int n = 0; n < _num; n++)
        {
            float g = dy[n] * scale;
            var d = dx.Slice(n * _dim, _dim);
            var row = x.Slice(n * _dim, _dim);
            switch (_op)
            {
                case Op.Asum:
                    for (int i = 0; i < _dim; i++) d[i] = row[i] > 0 ? g : row[i] < 0 ? -g : 0f;
                    break;
                case Op.Sumsq:
                    TensorPrimitives.Multiply(row, 2f * g, d);
                    break;
                default:
                    d.Fill(g);
                    break;
            }
        }
    }

    public override bool RunsOnDevice => true;

    private RowReduction DeviceOp => _op switch { Op.Asum => RowReduction.Asum, Op.Sumsq => RowReduction.Sumsq, _ => RowReduction.Sum };

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) =>
        backend.ReduceRows(DeviceOp, _num, _dim, Scale, bottom[0].DataOn(backend), top[0].MutableDataOn(backend));

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        var x = bottom[0].DataOn(backend);
        var dy = top[0].DiffOn(backend);
        backend.ReduceRowsBackward(DeviceOp, _num, _dim, Scale, x, dy, bottom[0].MutableDiffOn(backend));
    }
}
