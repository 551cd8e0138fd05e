using Engine.Proto;

namespace Engine.Graph;

/// <summary>
/// Keeps the layers that belong to a NetState (phase, level, stages), by Caffe's include/exclude
/// rules and by our Marvin-style `phases` field.
/// </summary>
public static class NetFilter
{
    public static NetParameter Filter(NetParameter net, NetState state)
    {
        var filtered = net.Clone();
        filtered.Layer.Clear();
        foreach (var layer in net.Layer)
            if (Keeps(layer, state)) filtered.Layer.Add(layer.Clone());
        return filtered;
    }

    public static bool Keeps(LayerParameter layer, NetState state)
    {
        if (layer.Include.Count > 0 && layer.Exclude.Count > 0)
            throw new EngineException($"layer \"{layer.Name}\": give `include` or `exclude` rules, not both");
        if (layer.HasPhases)
        {
            bool ok = layer.Phases switch
            {
                LayerParameter.Types.PhaseSet.Training => state.Phase == Phase.Train,
                LayerParameter.Types.PhaseSet.Testing => state.Phase == Phase.Test,
                _ => true,
            };
            if (!ok) return false;
        }
        if (layer.Include.Count > 0) return layer.Include.Any(r => RuleMet(r, state));
        return !layer.Exclude.Any(r => RuleMet(r, state));
    }

    /// <summary>A rule is met when every condition it sets holds.</summary>
    public static bool RuleMet(NetStateRule rule, NetState state)
    {
        if (rule.HasPhase && rule.Phase != state.Phase) return false;
        if (rule.HasMinLevel && state.Level < rule.MinLevel) return false;
        if (rule.HasMaxLevel && state.Level > rule.MaxLevel) return false;
        foreach (var s in rule.Stage)
            if (!state.Stage.Contains(s)) return false;
        foreach (var s in rule.NotStage)
            if (state.Stage.Contains(s)) return false;
        return true;
    }
}
