import Bridge.Demo
