using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Common part of Caffe's recurrent layers ("RNN", "LSTM"), computed directly as a loop over time
/// steps with one GEMM per step for the recurrent product (Caffe unrolls into an internal net; the
/// arithmetic is the same).
/// </summary>
/// <remarks>
/// <para>Bottoms: x (T×N×…; time-major, I = count from axis 2 inputs per step), cont (T×N: a 0 at
/// step t starts a new sequence: the previous hidden state is multiplied by cont_t), an optional
/// static input x_static (N×…, added to every step's pre-activation through its own weight), and,
/// with recurrent_param.expose_hidden, the initial states (h0, then c0 for LSTM; each 1×N×H).</para>
/// <para>Tops: the per-step output (T×N×…), then, with expose_hidden, the final states (hT, then cT).</para>
/// <para>Without expose_hidden, as in Caffe, the state at the end of a forward pass is kept and is
/// the initial state of the next one (zero after set-up or a change of N); a cont of 0 at the first
/// step discards it. No gradient flows into that carried state.</para>
/// </remarks>
public abstract class RecurrentLayer : Layer
{
    /// <summary>Time steps, sequences (batch), inputs per step, static inputs per item, hidden size.</summary>
    protected int T, N, I, IStatic, H;

    protected bool StaticInput { get; private set; }

    protected bool ExposeHidden => Param.RecurrentParam?.ExposeHidden ?? false;

    /// <summary>Number of recurrent states (1: h; 2: h and c).</summary>
    protected abstract int NumStates { get; }

    /// <summary>Shapes of the learnable blobs in Caffe's order, with whether each one is a bias.</summary>
    protected abstract IReadOnlyList<(int[] Shape, bool IsBias)> ParamShapes();

    /// <summary>Size the internal buffers for T, N (called from reshape, never from forward).</summary>
    protected abstract void ReshapeBuffers();

    /// <summary>Index of the first exposed-state bottom (h0).</summary>
    protected int StateBottom => StaticInput ? 3 : 2;

    protected RecurrentLayer(LayerParameter param) : base(param) { }

    public override int MinBottoms => 2 + (ExposeHidden ? NumStates : 0);
    public override int MaxBottoms => MinBottoms + 1;
    public override int ExactTops => 1 + (ExposeHidden ? NumStates : 0);

    public override bool AllowForceBackward(int bottomIndex) => bottomIndex != 1;
    public override bool CanBackward(int bottomIndex) => bottomIndex != 1;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = Param.RecurrentParam ?? throw Error("recurrent_param with num_output is required");
        if (!p.HasNumOutput || p.NumOutput == 0) throw Error("recurrent_param.num_output is required and must be positive");
        H = checked((int)p.NumOutput);
        StaticInput = bottom.Count > 2 + (ExposeHidden ? NumStates : 0);
        var x = bottom[0];
        if (x.NumAxes < 2)
            throw Error($"bottom \"{x.Name}\" {x.ShapeString} must have at least 2 axes (T×N×…)");
        I = checked((int)x.CountFrom(2));
        if (StaticInput)
        {
            var s = bottom[2];
            if (s.NumAxes < 1) throw Error($"static input \"{s.Name}\" must have at least 1 axis (N×…)");
            IStatic = checked((int)s.CountFrom(1));
        }

        var shapes = ParamShapes();
        if (Blobs.Count > 0)
        {
            if (Blobs.Count != shapes.Count)
                throw Error($"has {Blobs.Count} parameter blobs, expected {shapes.Count}{(StaticInput ? " (with a static input)" : "")}");
            for (int i = 0; i < shapes.Count; i++)
                if (!Blobs[i].ShapeEquals(shapes[i].Shape))
                    throw Error($"parameter blob {i} has shape {Blobs[i].ShapeString}, expected ({string.Join(" ", shapes[i].Shape)})");
        }
        else
        {
            foreach (var (shape, isBias) in shapes)
            {
                var blob = new Blob("", shape);
                Filler.Fill(blob, isBias ? p.BiasFiller : p.WeightFiller, FillerRng, Name);
                Blobs.Add(blob);
            }
        }
        ParamPropagateDown = Enumerable.Repeat(true, Blobs.Count).ToArray();
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var x = bottom[0];
        if (x.NumAxes < 2)
            throw Error($"bottom \"{x.Name}\" {x.ShapeString} must have at least 2 axes (T×N×…)");
        if (x.CountFrom(2) != I)
            throw Error($"bottom \"{x.Name}\" {x.ShapeString} has {x.CountFrom(2)} inputs per step (from axis 2), but the weights take {I}");
        int t = x.Dim(0), n = x.Dim(1);
        var cont = bottom[1];
        if (cont.NumAxes != 2)
            throw Error($"cont bottom \"{cont.Name}\" {cont.ShapeString} must be T×N (2 axes)");
        if (cont.Dim(0) != t || cont.Dim(1) != n)
            throw Error($"cont bottom \"{cont.Name}\" {cont.ShapeString} does not match T = {t}, N = {n} of \"{x.Name}\" {x.ShapeString}");
        if (StaticInput)
        {
            var s = bottom[2];
            if (s.NumAxes < 1 || s.Dim(0) != n)
                throw Error($"static input \"{s.Name}\" {s.ShapeString} must have N = {n} items on axis 0");
            if (s.CountFrom(1) != IStatic)
                throw Error($"static input \"{s.Name}\" {s.ShapeString} has {s.CountFrom(1)} values per item, but the weights take {IStatic}");
        }
        if (ExposeHidden)
        {
            for (int i = 0; i < NumStates; i++)
            {
                var h = bottom[StateBottom + i];
                if (!h.ShapeEquals([1, n, H]))
                    throw Error($"initial state bottom \"{h.Name}\" {h.ShapeString} must be 1×{n}×{H} (1×N×num_output)");
            }
        }
        bool newN = n != N;
        T = t;
        N = n;
        top[0].Reshape(OutputShape(x));
        for (int i = 1; i < top.Count; i++) top[i].Reshape(1, N, H);
        ReshapeBuffers();
        if (newN) ResetState();
    }

    /// <summary>Shape of top[0]: T×N×num_output.</summary>
    protected virtual int[] OutputShape(Blob x) => [T, N, H];

    /// <summary>Zero the state carried between forward passes (without expose_hidden).</summary>
    protected abstract void ResetState();

    protected static void Ensure(ref float[] buffer, long count)
    {
        if (buffer.Length < count) buffer = new float[checked((int)count)];
    }

    /// <summary>hc = cont ⊙ h row by row (N rows of H); cont = 0 gives exact zeros.</summary>
    protected static void ScaleRows(ReadOnlySpan<float> cont, ReadOnlySpan<float> h, Span<float> hc, int n, int width)
    {
        for (int i = 0; i < n; i++)
        {
            float c = cont[i];
            var dst = hc.Slice(i * width, width);
            if (c == 0f) dst.Clear();
            else if (c == 1f) h.Slice(i * width, width).CopyTo(dst);
            else System.Numerics.Tensors.TensorPrimitives.Multiply(h.Slice(i * width, width), c, dst);
        }
    }

    /// <summary>Each of <paramref name="rows"/> rows of <paramref name="m"/> += <paramref name="row"/>.</summary>
    protected static void AddToRows(Span<float> m, ReadOnlySpan<float> row, int rows)
    {
        int w = row.Length;
        for (int i = 0; i < rows; i++)
        {
            var dst = m.Slice(i * w, w);
            System.Numerics.Tensors.TensorPrimitives.Add(dst, row, dst);
        }
    }

    /// <summary>Sum of <paramref name="rows"/> blocks of <paramref name="sum"/>.Length values.</summary>
    protected static void SumBlocks(ReadOnlySpan<float> m, Span<float> sum, int rows)
    {
        int w = sum.Length;
        sum.Clear();
        for (int i = 0; i < rows; i++)
            System.Numerics.Tensors.TensorPrimitives.Add(sum, m.Slice(i * w, w), sum);
    }
}
