using Engine.Core;
using NUnit.Framework;

namespace Engine.Tests.Support;

/// <summary>
/// Finite-difference check of a layer's backward, in the manner of Caffe's GradientChecker: the
/// objective is Σ top·r for a fixed random r (so every top element matters), each input and
/// parameter element is nudged by ±step, and (f(x+h) − f(x−h)) / 2h must match the analytic
/// gradient within threshold · max(|a|, |n|, 1).
/// </summary>
public sealed class GradientChecker(float step = 1e-2f, float threshold = 1e-2f, ulong seed = 1701)
{
    /// <summary>
    /// Check gradients of all bottoms listed in <paramref name="checkBottoms"/> (default: all) and
    /// of all the layer's parameter blobs. The layer must already be set up on these blobs.
    /// Layers with randomness must reseed in forward or be checked with a fixed mask.
    /// </summary>
    public void Check(Layer layer, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top, int[]? checkBottoms = null, bool checkParams = true, Action? beforeForward = null)
    {
        checkBottoms ??= Enumerable.Range(0, bottom.Count).ToArray();
        var propagate = new bool[bottom.Count];
        foreach (var b in checkBottoms) propagate[b] = true;
        layer.ParamPropagateDown = Enumerable.Repeat(checkParams, layer.Blobs.Count).ToArray();

        // Fixed random weights on the top elements define the objective.
        var rng = new Rng(seed);
        var weights = top.Select(t => Enumerable.Range(0, (int)t.Count).Select(_ => rng.NextFloat() * 2 - 1).ToArray()).ToArray();

        // Analytic gradients.
        beforeForward?.Invoke();
        layer.Forward(bottom, top);
        for (int t = 0; t < top.Count; t++) weights[t].CopyTo(top[t].Diff);
        foreach (var b in layer.Blobs) b.Diff.Clear();
        layer.Backward(top, propagate, bottom);

        var targets = new List<(Blob blob, string what)>();
        foreach (var b in checkBottoms) targets.Add((bottom[b], $"bottom {b} \"{bottom[b].Name}\""));
        if (checkParams)
            for (int p = 0; p < layer.Blobs.Count; p++) targets.Add((layer.Blobs[p], $"param {p}"));
        var analytic = targets.Select(t => t.blob.Diff.ToArray()).ToArray();

        for (int k = 0; k < targets.Count; k++)
        {
            var (blob, what) = targets[k];
            for (int i = 0; i < blob.Count; i++)
            {
                float orig = blob.Data[i];
                blob.Data[i] = orig + step;
                double plus = Objective(layer, bottom, top, weights, beforeForward);
                blob.Data[i] = orig - step;
                double minus = Objective(layer, bottom, top, weights, beforeForward);
                blob.Data[i] = orig;
                double numeric = (plus - minus) / (2 * step);
                double a = analytic[k][i];
                double scale = Math.Max(Math.Max(Math.Abs(a), Math.Abs(numeric)), 1.0);
                if (Math.Abs(a - numeric) > threshold * scale)
                    Assert.Fail($"{layer.Type} \"{layer.Name}\": gradient of {what} element {i}: analytic {a}, numeric {numeric}");
            }
        }
    }

    private static double Objective(Layer layer, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top, float[][] weights, Action? beforeForward)
    {
        beforeForward?.Invoke();
        layer.Forward(bottom, top);
        double f = 0;
        for (int t = 0; t < top.Count; t++)
        {
            var d = top[t].Data;
            for (int i = 0; i < d.Length; i++) f += (double)d[i] * weights[t][i];
        }
        return f;
    }
}
