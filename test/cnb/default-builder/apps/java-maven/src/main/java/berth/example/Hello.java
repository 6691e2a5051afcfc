package berth.example;

import com.sun.net.httpserver.HttpServer;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

/** Answers HTTP on $PORT: built from source by Maven in the default builder. */
public final class Hello {
  public static void main(String[] args) throws Exception {
    String host = System.getenv().getOrDefault("HOST", "0.0.0.0");
    int port = Integer.parseInt(System.getenv().getOrDefault("PORT", "8080"));
    HttpServer server = HttpServer.create(new InetSocketAddress(host, port), 0);
    server.createContext("/", exchange -> {
      String tool = System.getenv().getOrDefault("JAVA_TOOL_OPTIONS", "");
      String heap = tool.contains("MaxRAMPercentage=75") ? "heap 75% of the limit" : "default heap";
      String body = "Hello from java-maven (Java " + Runtime.version().feature() + ", " + heap + ")\n";
      byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
      exchange.getResponseHeaders().set("content-type", "text/plain");
      exchange.sendResponseHeaders(200, bytes.length);
      try (OutputStream out = exchange.getResponseBody()) {
        out.write(bytes);
      }
    });
    server.start();
  }
}
