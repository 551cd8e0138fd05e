using Engine.Core;

namespace Engine.Graph;

/// <summary>A Softmax whose backward can pass its top gradient straight through.</summary>
public interface IStableGradientSoftmax
{
    /// <summary>stable_gradient as the file says it (default true).</summary>
    bool StableGradient { get; }

    /// <summary>Whether the file set stable_gradient explicitly.</summary>
    bool StableGradientExplicit { get; }

    /// <summary>Set by the net when a stable loss consumes this softmax's output.</summary>
    bool PassThrough { get; set; }
}

/// <summary>A loss that writes (p − onehot) into the probabilities' gradient itself.</summary>
public interface IStableSoftmaxLoss
{
    bool ExpectsStableSoftmax { get; }
}

/// <summary>
/// The design's stable pairing: a `Loss` layer in mode MultinomialLogistic_StableSoftmax, fed by
/// a Softmax with stable_gradient, writes scale·(p − onehot) and the Softmax passes it through,
/// so the gradient never divides by p. The net switches the Softmax to pass-through only when
/// that pairing holds; any other consumer gets the exact softmax Jacobian.
/// </summary>
internal static class SoftmaxPairing
{
    public static void Apply(Net net)
    {
        var paired = new HashSet<int>();
        for (int i = 0; i < net.Layers.Count; i++)
        {
            if (net.Layers[i] is not IStableSoftmaxLoss { ExpectsStableSoftmax: true } || net.Bottoms[i].Length == 0) continue;
            var loss = net.Layers[i];
            int p = ProducerThroughSplits(net, net.Bottoms[i][0]);
            if (p < 0 || net.Layers[p] is not IStableGradientSoftmax softmax)
            {
                var by = p < 0 ? "the net's input" : $"{net.Layers[p].Type} layer \"{net.Layers[p].Name}\"";
                throw new EngineException($"layer \"{loss.Name}\" ({loss.Type}, mode MultinomialLogistic_StableSoftmax): bottom \"{net.Bottoms[i][0].Name}\" must be the output of a Softmax layer with stable_gradient: true, but comes from {by}");
            }
            if (!softmax.StableGradient)
                throw new EngineException($"layer \"{loss.Name}\" ({loss.Type}, mode MultinomialLogistic_StableSoftmax): its Softmax \"{net.Layers[p].Name}\" has stable_gradient: false; use mode MultinomialLogistic with it, or set stable_gradient: true");
            softmax.PassThrough = true;
            paired.Add(p);
        }
        for (int i = 0; i < net.Layers.Count; i++)
            if (net.Layers[i] is IStableGradientSoftmax { StableGradientExplicit: true, StableGradient: true } && !paired.Contains(i) && net.LayerNeedBackward[i])
                Log.Warning($"layer \"{net.Layers[i].Name}\" (Softmax): stable_gradient: true has no effect, since no Loss layer in mode MultinomialLogistic_StableSoftmax consumes its output; the exact softmax gradient is used", "net.cs");
    }

    private static int ProducerThroughSplits(Net net, Blob blob)
    {
        int p = net.ProducerOf(blob);
        while (p >= 0 && net.Layers[p].Type == "Split") p = net.ProducerOf(net.Bottoms[p][0]);
        return p;
    }
}
