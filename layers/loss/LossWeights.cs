using Engine.Core;

namespace Engine.Layers;

/// <summary>
/// Weights that multiply each prediction element's loss and gradient, read from an optional
/// bottom (or from class_weight). A prediction of outer × C × inner elements may be weighted per
/// element (a weight blob of the prediction's count), per channel (C weights, channel = class),
/// or per position (outer·inner weights, one per label of a classification loss); weights may be
/// chained, so a weight bottom and class_weight combine by multiplication.
/// </summary>
public sealed class LossWeights
{
    public enum Kind { Element, Channel, Position }

    private readonly float[] _w;
    private readonly Kind _kind;
    private readonly int _channels, _inner;
    private readonly LossWeights? _next;

    private LossWeights(float[] w, Kind kind, int channels, int inner, LossWeights? next) =>
        (_w, _kind, _channels, _inner, _next) = (w, kind, Math.Max(channels, 1), Math.Max(inner, 1), next);

    /// <summary>Weights of <paramref name="kind"/> for a prediction with these channels and inner size; null stays null.</summary>
    public static LossWeights? Of(float[]? w, Kind kind, int channels, int inner, LossWeights? next = null) =>
        w == null ? next : new LossWeights(w, kind, channels, inner, next);

    /// <summary>The weight of prediction element <paramref name="e"/> (1 when <paramref name="w"/> is null).</summary>
    public static float At(LossWeights? w, int e)
    {
        float product = 1f;
        for (var x = w; x != null; x = x._next)
            product *= x._kind switch
            {
                Kind.Element => x._w[e],
                Kind.Channel => x._w[e / x._inner % x._channels],
                _ => x._w[e / (x._channels * x._inner) * x._inner + e % x._inner],
            };
        return product;
    }

    /// <summary>
    /// Reads a weight bottom: its count must equal the prediction's count (per element) or, when
    /// allowed, the channels C (per channel) or the positions outer·inner (per position).
    /// </summary>
    public static LossWeights? FromBottom(Blob weights, Blob prediction, int channels, int inner, bool perChannel, bool perPosition, Func<string, Exception> error)
    {
        long count = weights.Count;
        if (count == prediction.Count) return new LossWeights(weights.DataArray, Kind.Element, channels, inner, null);
        if (perChannel && count == channels) return new LossWeights(weights.DataArray, Kind.Channel, channels, inner, null);
        long positions = prediction.Count / Math.Max(1, (long)channels);
        if (perPosition && count == positions) return new LossWeights(weights.DataArray, Kind.Position, channels, inner, null);
        var allowed = new List<string> { $"{prediction.Count} (one per element of \"{prediction.Name}\" {prediction.ShapeString})" };
        if (perChannel) allowed.Add($"{channels} (one per channel)");
        if (perPosition) allowed.Add($"{positions} (one per label)");
        throw error($"the weights \"{weights.Name}\" {weights.ShapeString} must have {string.Join(" or ", allowed)} values");
    }
}
