using Engine.Core;
using Engine.Cpu;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Base of the elementwise layers (Caffe's NeuronLayer): one bottom, one top shaped like it.
/// The top may be the bottom itself (in place); subclasses then compute backward from the top
/// data, or from the bottom data where in place leaves it meaningful.
/// </summary>
public abstract class NeuronLayer : Layer
{
    protected NeuronLayer(LayerParameter param) : base(param) { }

    public override int ExactBottoms => 1;
    public override int ExactTops => 1;

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        if (!ReferenceEquals(top[0], bottom[0])) top[0].ReshapeLike(bottom[0]);
    }

    /// <summary>Runs <paramref name="body"/>(start, count, state) over the elements of a blob of
    /// <paramref name="count"/> values, in one piece per thread when it is large
    /// (<see cref="WorkerPool.ForRange"/>); an elementwise result does not depend on the cut.</summary>
    protected static void ForPieces<TState>(long count, TState state, Action<int, int, TState> body) =>
        WorkerPool.ForRange(checked((int)count), state, body);

    /// <summary>Whether the layer computes in place (its top is its bottom).</summary>
    protected static bool InPlace(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) => ReferenceEquals(top[0], bottom[0]);
}
