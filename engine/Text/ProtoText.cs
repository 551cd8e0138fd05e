using Google.Protobuf;
namespace Engine.Text;
public static class ProtoText
{
    public static T Parse<T>(string text, string fileName = "<string>") where T : IMessage<T>, new() => throw new NotImplementedException(fileName + text);
}
