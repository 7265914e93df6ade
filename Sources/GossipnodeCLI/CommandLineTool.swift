public enum CommandLineTool { public static func main(_ args: [String]) -> Int32 { 0 } }
