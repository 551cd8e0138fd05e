using Engine.Proto;

namespace Engine.Graph;

/// <summary>
/// When one top feeds several bottoms, a Split layer is inserted after it so that each consumer
/// gets its own blob and the gradients are summed in backward. Names follow Caffe:
/// layer "{blob}_{producer}_{topIndex}_split", tops "{blob}_{producer}_{topIndex}_split_{k}".
/// </summary>
public static class SplitInserter
{
    public static NetParameter Insert(NetParameter net)
    {
        // For each blob name, the producer (layer, top index) most recently writing it, and how
        // many later bottoms read that version of it.
        var producer = new Dictionary<string, (int layer, int top)>();
        var readers = new Dictionary<(int layer, int top), int>();
        var lossWeight = new Dictionary<(int layer, int top), float>();
        for (int i = 0; i < net.Layer.Count; i++)
        {
            var l = net.Layer[i];
            foreach (var b in l.Bottom)
            {
                if (!producer.TryGetValue(b, out var p))
                    throw new EngineException($"layer \"{l.Name}\" ({l.Type}): unknown bottom blob \"{b}\"; no earlier layer produces it{Known(producer.Keys)}");
                readers[p] = readers.GetValueOrDefault(p) + 1;
            }
            for (int t = 0; t < l.Top.Count; t++)
            {
                producer[l.Top[t]] = (i, t);
                if (t < l.LossWeight.Count && l.LossWeight[t] != 0) lossWeight[(i, t)] = l.LossWeight[t];
            }
        }

        var result = net.Clone();
        result.Layer.Clear();
        // Which split top the next reader of a (layer, top) version gets.
        var nextReader = new Dictionary<(int, int), int>();
        producer.Clear();
        for (int i = 0; i < net.Layer.Count; i++)
        {
            var l = net.Layer[i].Clone();
            for (int b = 0; b < l.Bottom.Count; b++)
            {
                var p = producer[l.Bottom[b]];
                if (NeedsSplit(readers, lossWeight, p))
                {
                    int k = nextReader.GetValueOrDefault(p);
                    nextReader[p] = k + 1;
                    l.Bottom[b] = SplitTopName(l.Bottom[b], net.Layer[p.layer].Name, p.top, k);
                }
            }
            result.Layer.Add(l);
            for (int t = 0; t < l.Top.Count; t++)
            {
                var key = (i, t);
                producer[l.Top[t]] = key;
                if (!NeedsSplit(readers, lossWeight, key)) continue;
                var blob = l.Top[t];
                var split = new LayerParameter { Name = $"{blob}_{l.Name}_{t}_split", Type = "Split" };
                split.Bottom.Add(blob);
                int n = readers.GetValueOrDefault(key);
                for (int k = 0; k < n; k++) split.Top.Add(SplitTopName(blob, l.Name, t, k));
                if (lossWeight.TryGetValue(key, out float w))
                {
                    // The loss stays on the producer's top; the split carries it on an extra top.
                    split.Top.Add(SplitTopName(blob, l.Name, t, n));
                    for (int k = 0; k < n; k++) split.LossWeight.Add(0);
                    split.LossWeight.Add(w);
                    l.LossWeight[t] = 0;
                }
                result.Layer.Add(split);
            }
        }
        return result;
    }

    private static bool NeedsSplit(Dictionary<(int, int), int> readers, Dictionary<(int, int), float> lossWeight, (int, int) key)
    {
        int n = readers.GetValueOrDefault(key);
        return n > 1 || (n > 0 && lossWeight.ContainsKey(key));
    }

    private static string SplitTopName(string blob, string layer, int top, int k) => $"{blob}_{layer}_{top}_split_{k}";

    private static string Known(IEnumerable<string> names)
    {
        var list = names.ToList();
        return list.Count == 0 ? "" : $" (blobs so far: {string.Join(", ", list)})";
    }
}
