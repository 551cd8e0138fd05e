using Engine.Proto;
namespace Engine.Upgrade;
public static class NetUpgrader
{
    public static bool NeedsUpgrade(NetParameter net) => false;
    public static NetParameter Upgrade(NetParameter net, string sourceName) => net;
}
