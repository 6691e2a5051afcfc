exports.greeting = () => "Hello from berth's Node.js example";
